//! Compiles every `bpf/*.c` into a BPF object that `src/` embeds with
//! `aya::include_bytes_aligned!`, so the `.node` file is self-contained.
//! No CO-RE: plain UAPI headers, `-g` keeps the BTF that describes `.maps`
//! (notes/aya-napi.md sections 2-3).
use std::{env, path::PathBuf, process::Command};

fn main() {
    napi_build::setup();

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".into());
    // asm/types.h lives in the multiarch include dir of the build host; the
    // BPF object itself is target-independent (little-endian `bpf` target).
    let host = env::var("HOST").expect("cargo sets HOST");
    let arch = host.split('-').next().unwrap_or("x86_64");
    let multiarch = format!("/usr/include/{arch}-linux-gnu");

    println!("cargo:rerun-if-changed=bpf");
    println!("cargo:rerun-if-env-changed=CLANG");
    let mut sources: Vec<PathBuf> = std::fs::read_dir("bpf")
        .expect("native/bpf exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    for src in sources {
        let stem = src.file_stem().unwrap().to_string_lossy().into_owned();
        let obj = out.join(format!("{stem}.o"));
        // No tail merging: it folds the IPv4 and IPv6 destination trie lookups
        // into one call instruction, which then sees two inner-map types; the
        // verifier can bind such a call to neither and leaves the generic
        // bpf_map_lookup_elem, an indirect call (a retpoline on this host),
        // on every near-miss packet of both families.
        let status = Command::new(&clang)
            .args(["-g", "-O2", "-target", "bpf", "-Wall", "-Werror", "-mllvm", "-enable-tail-merge=false"])
            .arg("-Ibpf/include")
            .arg(format!("-I{multiarch}"))
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(&obj)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {clang}: {e} (install clang)"));
        assert!(status.success(), "clang failed on {}", src.display());
    }
}
