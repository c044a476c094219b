//! Decoding the map records user space sends (agent/dataplane/records.ts writes
//! them): fixed 96-byte records, little-endian header, keys as the kernel wants them.
use thiserror::Error;

use crate::abi::{LpmVal, Pin, Shape, ShapeSet, Verdict};

pub const RECORD_LEN: usize = 96;

#[derive(Debug, Error)]
pub enum RecordError {
    #[error("record buffer length {0} is not a multiple of {RECORD_LEN}")]
    Length(usize),
    #[error("record {index}: {problem}")]
    Bad { index: usize, problem: String },
}

/// One decoded record.
#[derive(Debug)]
pub enum Record {
    /// `pins` [hook] come from a pins record right after it (host entries only).
    Lpm { v6: bool, prefix_len: u32, addr: [u8; 16], value: Option<LpmVal>, pins: [Pin; 2] },
    Tuple { v6: bool, key: [u8; 40], value: Option<Verdict> },
    /// `index` within one generation: (hook * 2 + fam) * MAX_SHAPES + i.
    Shape { index: u32, shape: Shape },
    /// Shapes in use for (hook, fam) of the generation, and which are wildcard per side.
    ShapeCount { hook: u8, v6: bool, set: ShapeSet },
}

const KIND_LPM: u8 = 1;
const KIND_TUPLE: u8 = 2;
const KIND_SHAPE: u8 = 3;
const KIND_SHAPE_COUNT: u8 = 4;
/// The pins of the host LPM record just before it (same family and address).
const KIND_PINS: u8 = 5;
const OP_UPSERT: u8 = 1;
const OP_DELETE: u8 = 2;

fn u16_le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn verdict(b: &[u8]) -> Verdict {
    Verdict { rank: u32_le(b, 0), slot: u32_le(b, 4), action: b[8], drop: b[9], flags: b[10], pad: 0 }
}

/// A pin as struct pf_pin lays it out; its ports stay in network order.
fn pin(b: &[u8]) -> Pin {
    Pin {
        shape1: b[0],
        side: b[1],
        proto: b[2],
        pad: 0,
        sport: u16::from_ne_bytes([b[4], b[5]]),
        dport: u16::from_ne_bytes([b[6], b[7]]),
        v: verdict(&b[8..20]),
    }
}

/// Decodes a whole buffer; nothing is applied when any record is malformed.
pub fn decode(buf: &[u8]) -> Result<Vec<Record>, RecordError> {
    if buf.len() % RECORD_LEN != 0 {
        return Err(RecordError::Length(buf.len()));
    }
    let mut out: Vec<Record> = Vec::with_capacity(buf.len() / RECORD_LEN);
    for (index, r) in buf.chunks_exact(RECORD_LEN).enumerate() {
        let record = {
            let bad = |problem: &str| RecordError::Bad { index, problem: problem.into() };
            let (kind, op, fam, hook) = (r[0], r[1], r[2], r[3]);
            if fam > 1 {
                return Err(bad("family must be 0 (IPv4) or 1 (IPv6)"));
            }
            let upsert = match op {
                OP_UPSERT => true,
                OP_DELETE => false,
                _ => return Err(bad("op must be 1 (upsert) or 2 (delete)")),
            };
            let v6 = fam == 1;
            let n = u32_le(r, 4);
            let key = &r[8..48];
            let val = &r[48..96];
            if kind == KIND_PINS {
                let pins = [pin(&val[0..20]), pin(&val[20..40])];
                if pins.iter().any(|p| p.shape1 > crate::abi::MAX_SHAPES as u8 || p.side > 1) {
                    return Err(bad("pin shape or side out of range"));
                }
                match out.last_mut() {
                    Some(Record::Lpm { v6: host_v6, prefix_len, addr, value: Some(_), pins: slot })
                        if *host_v6 == v6 && *prefix_len == if v6 { 128 } else { 32 } && addr[..] == key[..16] =>
                    {
                        *slot = pins
                    }
                    _ => return Err(bad("a pins record must follow the LPM record of its host")),
                }
                continue;
            }
            match kind {
                KIND_LPM => {
                    if n > if v6 { 128 } else { 32 } {
                        return Err(bad("prefix length too long for the family"));
                    }
                    let mut addr = [0u8; 16];
                    addr.copy_from_slice(&key[..16]);
                    // Verdicts [side][hook] fill the value area; the shape bitmaps
                    // [side][hook] ride in the key area after the 16 address bytes.
                    let value = upsert.then(|| LpmVal {
                        v: [[verdict(&val[0..12]), verdict(&val[12..24])], [verdict(&val[24..36]), verdict(&val[36..48])]],
                        shapes: [[u32_le(key, 16), u32_le(key, 20)], [u32_le(key, 24), u32_le(key, 28)]],
                    });
                    Ok(Record::Lpm { v6, prefix_len: n, addr, value, pins: [Pin::default(); 2] })
                }
                KIND_TUPLE => {
                    let mut k = [0u8; 40];
                    k.copy_from_slice(key);
                    Ok(Record::Tuple { v6, key: k, value: upsert.then(|| verdict(&val[0..12])) })
                }
                KIND_SHAPE => {
                    if n >= 4 * crate::abi::MAX_SHAPES {
                        return Err(bad("shape index out of range"));
                    }
                    let mut shape = Shape {
                        best: u32_le(val, 0),
                        proto_mask: val[4],
                        needs_ports: val[5],
                        sport_mask: u16_le(val, 6),
                        dport_mask: u16_le(val, 8),
                        ..Shape::default()
                    };
                    shape.src_mask.copy_from_slice(&val[12..28]);
                    shape.dst_mask.copy_from_slice(&val[28..44]);
                    Ok(Record::Shape { index: n, shape })
                }
                KIND_SHAPE_COUNT => {
                    if n > crate::abi::MAX_SHAPES || hook > 1 {
                        return Err(bad("shape count or hook out of range"));
                    }
                    let set = ShapeSet { count: n, wild_src: u32_le(val, 0), wild_dst: u32_le(val, 4), pad: 0 };
                    Ok(Record::ShapeCount { hook, v6, set })
                }
                _ => Err(bad("unknown record kind")),
            }
        }?;
        out.push(record);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upsert record of `kind` for family `fam` with `n` at 4 and `addr` at 8.
    fn record(kind: u8, fam: u8, n: u32, addr: &[u8]) -> [u8; RECORD_LEN] {
        let mut r = [0u8; RECORD_LEN];
        r[..3].copy_from_slice(&[kind, OP_UPSERT, fam]);
        r[4..8].copy_from_slice(&n.to_le_bytes());
        r[8..8 + addr.len()].copy_from_slice(addr);
        r
    }

    /// A pins record for the IPv4 host `addr` with an ingress pin of shape 2,
    /// destination side, TCP, port 8443, rank 4096, slot 7, deny.
    fn pins(addr: &[u8]) -> [u8; RECORD_LEN] {
        let mut r = record(KIND_PINS, 0, 32, addr);
        r[48..56].copy_from_slice(&[3, 1, 6, 0, 0, 0, 0x20, 0xfb]);
        r[56..60].copy_from_slice(&4096u32.to_le_bytes());
        r[60..64].copy_from_slice(&7u32.to_le_bytes());
        r[64] = 1;
        r
    }

    #[test]
    fn a_pins_record_joins_the_host_record_before_it() {
        let host = [198, 51, 100, 77];
        let buf = [record(KIND_LPM, 0, 32, &host), pins(&host)].concat();
        let recs = decode(&buf).unwrap();
        assert_eq!(recs.len(), 1);
        let Record::Lpm { pins, .. } = &recs[0] else { panic!("not an LPM record") };
        assert_eq!((pins[0].shape1, pins[0].side, pins[0].proto), (3, 1, 6));
        assert_eq!(pins[0].dport.to_ne_bytes(), [0x20, 0xfb], "ports stay in network order");
        assert_eq!((pins[0].v.rank, pins[0].v.slot, pins[0].v.action), (4096, 7, 1));
        assert_eq!(pins[1].shape1, 0, "no egress pin");
    }

    #[test]
    fn a_pins_record_anywhere_else_is_refused() {
        let host = [198, 51, 100, 77];
        let other = [198, 51, 100, 78];
        let refused = |buf: Vec<u8>| matches!(decode(&buf), Err(RecordError::Bad { .. }));
        assert!(refused(pins(&host).to_vec()), "first record");
        assert!(refused([record(KIND_LPM, 0, 32, &other), pins(&host)].concat()), "another host");
        assert!(refused([record(KIND_LPM, 0, 24, &host), pins(&host)].concat()), "not a host");
        assert!(refused([record(KIND_TUPLE, 0, 0, &host), pins(&host)].concat()), "after a tuple key");
    }
}
