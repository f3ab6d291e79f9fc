// AWS event-stream framing (application/vnd.amazon.eventstream), decoded incrementally: what
// InvokeWithResponseStream answers with. Same layout as lambdakit/_eventstream.py:
//
//   prelude  total_length:u32 | headers_length:u32 | prelude_crc:u32 = CRC32(first 8 bytes)
//   headers  name_len:u8 | name:utf8 | type:u8 | value      (headers_length bytes)
//   payload  total_length - headers_length - 16 bytes
//   trailer  message_crc:u32 = CRC32(everything before it)
//
// Big-endian integers, zlib's CRC32. Header types: 0 true, 1 false, 2 int8, 3 int16, 4 int32,
// 5 int64, 6 bytes (u16 length), 7 string (u16 length), 8 timestamp (int64 ms), 9 UUID.

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes, start = 0, end = bytes.length) {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export class EventStreamError extends Error {}

const PRELUDE = 12;
const MAX_MESSAGE = 24 * 1024 * 1024 + 128 * 1024 + 16; // botocore's payload + headers limits

const FIXED = { 2: [1, "getInt8"], 3: [2, "getInt16"], 4: [4, "getInt32"] };
const LONG = new Set([5, 8]); // int64 and timestamp (ms): Numbers are exact up to 2**53

function readHeaders(view, bytes, start, end) {
  const headers = {};
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  let at = start;
  const take = (n) => {
    if (at + n > end) throw new EventStreamError("a header runs past the headers section");
    at += n;
    return at - n;
  };
  while (at < end) {
    const nameLength = bytes[take(1)];
    const nameAt = take(nameLength);
    const name = utf8.decode(bytes.subarray(nameAt, nameAt + nameLength));
    const type = bytes[take(1)];
    let value;
    if (type === 0 || type === 1) value = type === 0;
    else if (type in FIXED) value = view[FIXED[type][1]](take(FIXED[type][0]));
    else if (LONG.has(type)) value = Number(view.getBigInt64(take(8)));
    else if (type === 6 || type === 7) {
      const length = view.getUint16(take(2));
      const valueAt = take(length);
      const slice = bytes.slice(valueAt, valueAt + length);
      value = type === 7 ? utf8.decode(slice) : slice;
    } else if (type === 9) value = bytes.slice(take(16), at);
    else throw new EventStreamError(`unknown header type ${type}`);
    headers[name] = value;
  }
  return headers;
}

/** Feed it bytes as they arrive; it returns the complete messages ({headers, payload}). */
export class EventStreamDecoder {
  constructor() {
    this.buffer = new Uint8Array(0);
  }

  feed(chunk) {
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer);
    joined.set(chunk, this.buffer.length);
    this.buffer = joined;
    const messages = [];
    for (let message = this.next(); message; message = this.next()) messages.push(message);
    return messages;
  }

  /** True when bytes of an incomplete message are left over (a stream cut short). */
  get pending() {
    return this.buffer.length > 0;
  }

  next() {
    const bytes = this.buffer;
    if (bytes.length < PRELUDE) return null;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const total = view.getUint32(0);
    const headersLength = view.getUint32(4);
    if (crc32(bytes, 0, 8) !== view.getUint32(8))
      throw new EventStreamError("prelude CRC mismatch");
    if (total < PRELUDE + 4 + headersLength || total > MAX_MESSAGE)
      throw new EventStreamError(`bad message length ${total}`);
    if (bytes.length < total) return null;
    if (crc32(bytes, 0, total - 4) !== view.getUint32(total - 4))
      throw new EventStreamError("message CRC mismatch");
    const headers = readHeaders(view, bytes, PRELUDE, PRELUDE + headersLength);
    const payload = bytes.slice(PRELUDE + headersLength, total - 4);
    this.buffer = bytes.slice(total);
    return { headers, payload };
  }
}
