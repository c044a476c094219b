//! N-API surface of the kernel dataplane. Only the exported items live here;
//! the work is in the modules below. Slow calls (load, attach, generation
//! builds) are AsyncTasks so the agent's event loop never waits on the kernel.
mod abi;
mod errors;
mod filter;
mod kernel;
mod objects;
mod probe;
mod records;
mod sys;

use std::{
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard},
};

use napi::{
    Env, Result, Task,
    bindgen_prelude::{AsyncTask, BigInt, Buffer, ToNapiValue, TypeName, Uint32Array},
};
use napi_derive::napi;

use crate::{errors::to_js, kernel::Kernel};

/// Crate version, to check that the `.node` matches the agent.
#[napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Result of `probe()`.
#[napi(object)]
pub struct ProbeResult {
    pub ok: bool,
    pub reason: Option<String>,
}

/// Whether this process can load an XDP program; `reason` holds the kernel's refusal.
#[napi]
pub fn probe() -> ProbeResult {
    match probe::load_xdp() {
        Ok(()) => ProbeResult { ok: true, reason: None },
        Err(reason) => ProbeResult { ok: false, reason: Some(reason) },
    }
}

/// Mean ns per BPF_PROG_TEST_RUN of an XDP program that passes everything (benchmark baseline).
#[napi]
pub fn baseline_test_run(frame: Buffer, repeat: u32) -> Result<i64> {
    probe::empty_test_run(&frame, repeat).map(|ns| ns as i64).map_err(napi::Error::from_reason)
}

/// How `attach()` hooked an interface.
#[napi(object)]
pub struct AttachResult {
    /// `driver`, `generic` or `pinned` (kept from an earlier run).
    pub xdp_mode: String,
    /// `tcx`, `clsact` or `pinned`.
    pub egress: String,
}

/// Packets and bytes counted for one slot.
#[napi(object)]
pub struct CounterValues {
    pub packets: BigInt,
    pub bytes: BigInt,
}

/// Outcome of one BPF_PROG_TEST_RUN.
#[napi(object)]
pub struct TestRunOutcome {
    /// The program's return code (XDP_* or TC_ACT_* as unsigned).
    pub retval: u32,
    /// Mean nanoseconds per run, as the kernel measured it.
    pub duration_ns: i64,
}

/// One work item run off the JS thread on an opened instance.
pub struct Job<T> {
    kernel: Option<Arc<Mutex<Kernel>>>,
    work: Option<Box<dyn FnOnce(Option<&mut Kernel>) -> std::result::Result<T, kernel::KernelError> + Send>>,
}

impl<T: ToNapiValue + TypeName + Send + 'static> Task for Job<T> {
    type Output = T;
    type JsValue = T;

    fn compute(&mut self) -> Result<T> {
        let work = self.work.take().ok_or_else(|| napi::Error::from_reason("task ran twice"))?;
        match &self.kernel {
            Some(k) => work(Some(&mut lock(k))),
            None => work(None),
        }
        .map_err(|e| to_js(&e))
    }

    fn resolve(&mut self, _env: Env, output: T) -> Result<T> {
        Ok(output)
    }
}

fn lock(k: &Mutex<Kernel>) -> MutexGuard<'_, Kernel> {
    // A panic cannot happen inside (no unwraps), but never poison the handle for good.
    k.lock().unwrap_or_else(|p| p.into_inner())
}

/// Loads the programs and opens (or creates) the pinned maps of one instance.
#[napi(ts_return_type = "Promise<NativeDataplane>")]
pub fn open_dataplane(pin_dir: String) -> AsyncTask<OpenTask> {
    AsyncTask::new(OpenTask { dir: PathBuf::from(pin_dir) })
}

pub struct OpenTask {
    dir: PathBuf,
}

impl Task for OpenTask {
    type Output = Kernel;
    type JsValue = NativeDataplane;

    fn compute(&mut self) -> Result<Kernel> {
        Kernel::open(&self.dir).map_err(|e| to_js(&e))
    }

    fn resolve(&mut self, _env: Env, kernel: Kernel) -> Result<NativeDataplane> {
        Ok(NativeDataplane { kernel: Arc::new(Mutex::new(kernel)) })
    }
}

/// Removes every pinned link and map of an instance directory (detaches everything).
#[napi(ts_return_type = "Promise<void>")]
pub fn detach_all(pin_dir: String) -> AsyncTask<Job<()>> {
    AsyncTask::new(Job { kernel: None, work: Some(Box::new(move |_| kernel::detach_all(&PathBuf::from(pin_dir)))) })
}

/// An opened dataplane instance.
#[napi]
pub struct NativeDataplane {
    kernel: Arc<Mutex<Kernel>>,
}

#[napi]
impl NativeDataplane {
    fn job<T>(&self, work: impl FnOnce(&mut Kernel) -> std::result::Result<T, kernel::KernelError> + Send + 'static) -> AsyncTask<Job<T>>
    where
        T: ToNapiValue + TypeName + Send + 'static,
    {
        AsyncTask::new(Job {
            kernel: Some(self.kernel.clone()),
            work: Some(Box::new(move |k| match k {
                Some(k) => work(k),
                None => unreachable_kernel(),
            })),
        })
    }

    /// Attaches XDP ingress and TC egress to an interface, pinning the links.
    #[napi(ts_return_type = "Promise<AttachResult>")]
    pub fn attach(&self, iface: String) -> AsyncTask<Job<AttachResult>> {
        self.job(move |k| {
            k.attach(&iface).map(|a| AttachResult { xdp_mode: a.xdp_mode, egress: a.egress })
        })
    }

    /// Detaches both programs from an interface (removes its link pins).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn detach(&self, iface: String) -> AsyncTask<Job<()>> {
        self.job(move |k| k.detach(&iface))
    }

    /// Interfaces with pinned links.
    #[napi]
    pub fn attached(&self) -> Vec<String> {
        lock(&self.kernel).attached()
    }

    /// Builds the inactive generation from records and switches to it, with
    /// `fresh_slots` (counter slots handed to other rules) zeroed meanwhile;
    /// resolves to the new generation.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn replace(&self, records: Buffer, fresh_slots: Uint32Array) -> AsyncTask<Job<u32>> {
        let bytes = records.to_vec();
        let slots = fresh_slots.to_vec();
        self.job(move |k| k.replace(&bytes, &slots))
    }

    /// Applies records in place to the active generation, in order.
    #[napi]
    pub fn update(&self, records: Buffer) -> Result<()> {
        lock(&self.kernel).update(&records).map_err(|e| to_js(&e))
    }

    /// Packets and bytes of a counter slot, summed over CPUs.
    #[napi]
    pub fn counters(&self, slot: u32) -> Result<CounterValues> {
        let c = lock(&self.kernel).counters(slot).map_err(|e| to_js(&e))?;
        Ok(CounterValues { packets: BigInt::from(c.packets), bytes: BigInt::from(c.bytes) })
    }

    /// Zeroes counter slots before they are reused.
    #[napi]
    pub fn reset_counters(&self, slots: Uint32Array) -> Result<()> {
        lock(&self.kernel).reset_counters(&slots).map_err(|e| to_js(&e))
    }

    /// Sets the anti-lockout prefixes (LPM records) and local TCP ports.
    #[napi]
    pub fn set_management(&self, prefixes: Buffer, ports: Vec<u32>) -> Result<()> {
        let ports: Vec<u16> = ports
            .into_iter()
            .map(|p| u16::try_from(p).map_err(|_| napi::Error::new(napi::Status::InvalidArg, format!("port {p} out of range"))))
            .collect::<Result<_>>()?;
        lock(&self.kernel).set_management(&prefixes, &ports).map_err(|e| to_js(&e))
    }

    /// Runs the ingress (0) or egress (1) program on a frame with BPF_PROG_TEST_RUN.
    #[napi]
    pub fn test_run(&self, hook: u32, frame: Buffer, repeat: u32) -> Result<TestRunOutcome> {
        let (retval, ns) = lock(&self.kernel).test_run(hook as u8, &frame, repeat).map_err(|e| to_js(&e))?;
        Ok(TestRunOutcome { retval, duration_ns: ns as i64 })
    }
}

fn unreachable_kernel<T>() -> std::result::Result<T, kernel::KernelError> {
    Err(kernel::KernelError::InterfaceName(String::new()))
}
