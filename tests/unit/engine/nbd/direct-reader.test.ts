// The NBD client's byte reader over a real Unix socket: exact reads come back right whatever
// way the stream is cut, a large payload lands in the caller's buffer without a copy, a flood
// of small replies served from the backlog does not grow the stack, and a connection closed
// in the middle of a payload fails the pending read.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DirectReader } from '../../../../src-main/engine/nbd/direct-reader';

/** A Unix socket pair: the peer end (plain) and a DirectReader on the other end. */
async function pair(headerRead = 0): Promise<{ peer: Socket; reader: DirectReader; socket: Socket; close(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'bv-direct-'));
  const path = join(dir, 's');
  let accepted: (socket: Socket) => void = () => undefined;
  const peerReady = new Promise<Socket>((resolve) => { accepted = resolve; });
  const server: Server = createServer((s) => accepted(s));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const reader = new DirectReader(() => new Error('peer closed'));
  reader.headerRead = headerRead;
  const socket = connect({ path, onread: reader.onread });
  reader.attach(socket);
  const peer = await peerReady;
  return { peer, reader, socket, close: () => { socket.destroy(); peer.destroy(); server.close(); rmSync(dir, { recursive: true, force: true }); } };
}

/** Writes `data` cut at the given sizes, each piece after a pause so it arrives alone. */
async function dribble(peer: Socket, data: Buffer, sizes: number[]): Promise<void> {
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length], data.length - at);
    await new Promise<void>((resolve) => peer.write(data.subarray(at, at + n), () => resolve()));
    await new Promise((resolve) => setTimeout(resolve, 1));
    at += n;
  }
}

test('headers and payloads come back exact however the stream is cut; a large payload is read in place', { timeout: 20000 }, async () => {
  const { peer, reader, close } = await pair();
  try {
    // records: a 4-byte length, then that many bytes (the last one large)
    const payloads = [randomBytes(3), randomBytes(70_000), randomBytes(1), randomBytes(300_000)];
    const stream = Buffer.concat(payloads.flatMap((p) => { const h = Buffer.alloc(4); h.writeUInt32BE(p.length); return [h, p]; }));
    const sending = dribble(peer, stream, [1, 7, 5000, 65536, 3, 200_000]);
    for (const payload of payloads) {
      const length = (await reader.read(4)).readUInt32BE(0);
      assert.equal(length, payload.length);
      const into = Buffer.alloc(length + 10, 0xaa);
      const got = await reader.read(length, into);
      assert.ok(got.equals(payload), `payload of ${length} bytes differs`);
      assert.equal(got.buffer, into.buffer, 'the bytes are in the given buffer');
      assert.ok(into.subarray(length).equals(Buffer.alloc(10, 0xaa)), 'nothing written past the payload');
    }
    await sending;
    assert.ok(reader.directBytes > 200_000, `only ${reader.directBytes} bytes went straight into destinations`);
  } finally {
    close();
  }
});

test('with headerRead set, a header read does not pull the payload behind it into the scratch: every payload byte lands in place', { timeout: 20000 }, async () => {
  const { peer, reader, close } = await pair(28);
  try {
    const payloads = [randomBytes(300_000), randomBytes(5_000), randomBytes(262_144)];
    let received = 0;
    const done = new Promise<void>((resolve, reject) => {
      // as the NBD client does: the payload is expected synchronously from the header's continuation
      const next = (i: number): void => reader.expect(28, null, true, (header) => {
        const length = header.readUInt32BE(24);
        assert.equal(length, payloads[i].length);
        const into = Buffer.alloc(length);
        reader.expect(length, into, false, (got) => {
          assert.ok(got.equals(payloads[i]), `payload ${i} differs`);
          received++;
          if (i + 1 === payloads.length) resolve();
          else next(i + 1);
        }, reject);
      }, reject);
      reader.onContinuationError = reject;
      next(0);
    });
    // each record sent whole, in one write: a 28-byte header (length at 24), then the payload
    for (const payload of payloads) {
      const header = Buffer.alloc(28, 0x11);
      header.writeUInt32BE(payload.length, 24);
      await new Promise<void>((resolve) => peer.write(Buffer.concat([header, payload]), () => resolve()));
    }
    await done;
    assert.equal(received, payloads.length);
    assert.equal(reader.directBytes, payloads.reduce((sum, p) => sum + p.length, 0), 'some payload bytes went through the scratch');
  } finally {
    close();
  }
});

test('50,000 small records already buffered are parsed by chained continuations without growing the stack', { timeout: 20000 }, async () => {
  const { peer, reader, close } = await pair();
  try {
    const count = 50_000;
    const stream = Buffer.alloc(count * 8);
    for (let i = 0; i < count; i++) stream.writeUInt32BE(i, i * 8), stream.writeUInt32BE(i ^ 0x5a5a5a5a, i * 8 + 4);
    // nothing is expected while the whole stream arrives: it all goes to the backlog
    await new Promise<void>((resolve) => peer.write(stream, () => resolve()));
    await new Promise((resolve) => setTimeout(resolve, 200));
    let seen = 0;
    const done = new Promise<void>((resolve, reject) => {
      const next = (): void => reader.expect(8, null, true, (record) => {
        if (record.readUInt32BE(0) !== seen || record.readUInt32BE(4) !== (seen ^ 0x5a5a5a5a)) throw new Error(`record ${seen} is wrong`);
        seen++;
        if (seen === count) resolve();
        else next();
      }, reject);
      reader.onContinuationError = reject;
      next();
    });
    await done;
    assert.equal(seen, count);
  } finally {
    close();
  }
});

test('a connection closed in the middle of a payload fails the pending read, and every later one', { timeout: 20000 }, async () => {
  const { peer, reader, close } = await pair();
  try {
    const reading = reader.read(100_000, Buffer.alloc(100_000));
    await new Promise<void>((resolve) => peer.write(randomBytes(40_000), () => resolve()));
    peer.end();
    await assert.rejects(reading, /peer closed/);
    await assert.rejects(reader.read(1), /peer closed/);
  } finally {
    close();
  }
});
