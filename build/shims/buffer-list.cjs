// mqtt-packet's parser keeps the bytes it has not parsed yet in a `bl` list and reads them a
// byte or a word at a time. bl answers each of those reads with a new Buffer view and an
// [index, offset] array, and each consume with another view: about 4 KB of garbage per command
// in bench:mqtt, the largest single source of the agent's allocations. This list answers the
// calls that parser makes (append, consume, length, readUInt8/16BE/32BE, slice, toString; offsets
// from 0, ranges with start <= end) as bl does, and reads in place.
// test/unit/buffer-list-shim.test.ts checks it against bl.

/** Bytes received and not consumed yet: `bufs[0]` from `head` on, then the others whole. */
class BufferList {
  constructor() {
    this._bufs = [];
    this._head = 0;
    this.length = 0;
  }

  append(chunk) {
    if (!(chunk instanceof Uint8Array)) throw new TypeError('buffer-list: append takes a Buffer');
    if (chunk.length === 0) return this;
    this._bufs.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    this.length += chunk.length;
    return this;
  }

  consume(bytes) {
    bytes = Math.trunc(bytes);
    if (Number.isNaN(bytes) || bytes <= 0) return this;
    bytes = Math.min(bytes, this.length);
    this.length -= bytes;
    while (bytes > 0) {
      const rest = this._bufs[0].length - this._head;
      if (bytes < rest) {
        this._head += bytes;
        return this;
      }
      bytes -= rest;
      this._bufs.shift();
      this._head = 0;
    }
    return this;
  }

  /** The byte at list offset `offset`; a RangeError outside the list, as bl's empty slice throws. */
  readUInt8(offset) {
    if (!(offset >= 0 && offset < this.length)) throw outOfRange(offset, 1, this.length);
    let at = this._head + offset;
    for (const buf of this._bufs) {
      if (at < buf.length) return buf[at];
      at -= buf.length;
    }
    throw outOfRange(offset, 1, this.length);
  }

  readUInt16BE(offset) {
    return this.readUInt8(offset) * 0x100 + this.readUInt8(offset + 1);
  }

  readUInt32BE(offset) {
    return this.readUInt16BE(offset) * 0x10000 + this.readUInt16BE(offset + 2);
  }

  /** Bytes [start, end) as one Buffer: a view when they lie in one chunk, else a copy (as bl). */
  slice(start, end) {
    const range = this._range(start, end);
    if (range === undefined) return Buffer.alloc(0);
    const [index, from, bytes] = range;
    const first = this._bufs[index];
    if (from + bytes <= first.length) return first.subarray(from, from + bytes);
    const out = Buffer.allocUnsafe(bytes);
    let copied = first.copy(out, 0, from);
    for (let i = index + 1; copied < bytes; i++) copied += this._bufs[i].copy(out, copied, 0, bytes - copied);
    return out;
  }

  toString(encoding, start, end) {
    const range = this._range(start, end);
    if (range === undefined) return '';
    const [index, from, bytes] = range;
    const first = this._bufs[index];
    if (from + bytes <= first.length) return first.toString(encoding, from, from + bytes);
    return this.slice(start, end).toString(encoding);
  }

  /**
   * bl's reading of a slice's bounds (negative counts from the end, end clipped to the length):
   * the chunk it starts in, the offset there and its byte count; undefined when empty.
   */
  _range(start, end) {
    if (typeof start !== 'number' || Number.isNaN(start)) start = 0;
    else if (start < 0) start += this.length;
    if (typeof end !== 'number' || Number.isNaN(end)) end = this.length;
    else if (end < 0) end += this.length;
    start = Math.max(0, Math.trunc(start));
    end = Math.min(this.length, Math.trunc(end));
    if (start >= end) return undefined;
    let at = this._head + start;
    let index = 0;
    while (at >= this._bufs[index].length) at -= this._bufs[index++].length;
    return [index, at, end - start];
  }
}

function outOfRange(offset, bytes, length) {
  const err = new RangeError(`buffer-list: ${bytes} byte(s) at offset ${offset} lie outside the ${length} buffered`);
  err.code = 'ERR_OUT_OF_RANGE';
  return err;
}

/** `bl()` as mqtt-packet calls it, with or without `new`. */
function bl() {
  return new BufferList();
}
module.exports = bl;
module.exports.BufferList = BufferList;
module.exports.default = bl;
