/**
 * Rewrites a video-only MPEG-TS file (video on PID 0x100, PAT and PMT on PIDs 0 and 0x1000, as FFmpeg's muxer
 * writes them) so that each PES packet but the first begins with the last `tail` bytes of the picture before it: a
 * packing that the standard allows and some broadcast muxers use. Decoders take it as they take any other, since the
 * elementary stream is the same; a reader that cuts the file at a PES start loses the end of a picture.
 */
const PACKET = 188;
const VIDEO_PID = 0x100;
const TABLE_PIDS = new Set([0, 0x1000]);

export function movePesTails(file: Buffer, tail: number): Buffer {
  const tables: Buffer[] = [];
  const pes: Array<{ header: Buffer; data: Buffer[] }> = [];
  for (let at = 0; at + PACKET <= file.length; at += PACKET) {
    const packet = file.subarray(at, at + PACKET);
    const pid = ((packet[1]! & 0x1f) << 8) | packet[2]!;
    const start = (packet[1]! & 0x40) !== 0;
    const field = (packet[3]! >> 4) & 3;
    const offset = 4 + (field & 2 ? 1 + packet[4]! : 0);
    const payload = field & 1 ? packet.subarray(offset) : Buffer.alloc(0);
    if (TABLE_PIDS.has(pid)) {
      if (tables.length < 2) tables.push(packet);
    } else if (pid === VIDEO_PID && start) {
      const headerLength = 9 + payload[8]!;
      pes.push({ header: Buffer.from(payload.subarray(0, headerLength)), data: [payload.subarray(headerLength)] });
    } else if (pid === VIDEO_PID) {
      pes.at(-1)?.data.push(payload);
    }
  }
  const out: Buffer[] = [...tables];
  let counter = 0;
  let carried = Buffer.alloc(0);
  pes.forEach(({ header, data }, i) => {
    const whole = Buffer.concat(data);
    const kept = i + 1 < pes.length ? whole.subarray(0, whole.length - tail) : whole;
    const body = Buffer.concat([carried, kept]);
    carried = whole.subarray(kept.length);
    // The PES length no longer holds: 0 says "unbounded", as a video PES may.
    header.writeUInt16BE(0, 4);
    let rest = Buffer.concat([header, body]);
    for (let first = true; rest.length > 0; first = false) {
      const packet = Buffer.alloc(PACKET, 0xff);
      packet[0] = 0x47;
      packet[1] = (first ? 0x40 : 0) | (VIDEO_PID >> 8);
      packet[2] = VIDEO_PID & 0xff;
      const used = Math.min(rest.length, PACKET - 4);
      if (used === PACKET - 4) {
        packet[3] = 0x10 | counter;
        rest.copy(packet, 4, 0, used);
      } else {
        // Stuffing in an adaptation field fills the packet before a short payload.
        const stuffing = PACKET - 4 - used;
        packet[3] = 0x30 | counter;
        packet[4] = stuffing - 1;
        if (stuffing >= 2) packet[5] = 0;
        rest.copy(packet, 4 + stuffing, 0, used);
      }
      counter = (counter + 1) & 15;
      out.push(packet);
      rest = rest.subarray(used);
    }
    if (i % 10 === 0) out.push(...tables);
  });
  return Buffer.concat(out);
}
