// Measurement helpers for benches/connect.rs, installed on top of the old
// client (tests/browser/old-client.js) in both pages of the Chromium pair.
// One page is the initiator (roundTrips, throughput), the other the responder.
'use strict';

window.bench = (function () {
  let waiter = null;

  function nextText() {
    return new Promise((resolve) => { waiter = resolve; });
  }

  function initiator() {
    oldClient.onText = (text) => {
      const resolve = waiter;
      waiter = null;
      if (resolve) resolve(text);
    };
  }

  // Echoes pings; after `bulkCount` other texts, answers "done".
  function responder(bulkCount) {
    let got = 0;
    oldClient.onText = (text) => {
      if (text.startsWith('ping')) {
        oldClient.send(text);
      } else if (++got === bulkCount) {
        oldClient.send('done');
      }
    };
  }

  // `count` sequential pings; round-trip times in µs.
  async function roundTrips(count) {
    initiator();
    const times = [];
    for (let i = 0; i < count; i++) {
      const reply = nextText();
      const start = performance.now();
      oldClient.send(`ping ${i}`);
      await reply;
      times.push((performance.now() - start) * 1000);
    }
    return times;
  }

  // `count` texts of `size` bytes, kept under 1 MiB buffered; MB/s until the
  // responder says it has them all.
  async function throughput(count, size) {
    initiator();
    const channel = oldClient.channel();
    channel.bufferedAmountLowThreshold = 256 * 1024;
    const text = 'x'.repeat(size);
    const done = nextText();
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      if (channel.bufferedAmount > 1024 * 1024) {
        await new Promise((resolve) => channel.addEventListener('bufferedamountlow', resolve, { once: true }));
      }
      channel.send(text);
    }
    await done;
    return (count * size) / ((performance.now() - start) / 1000) / 1e6;
  }

  // Counts binary bytes; answers "file-done" once `total` arrived.
  function fileResponder(total) {
    const channel = oldClient.channel();
    channel.binaryType = 'arraybuffer';
    let got = 0;
    channel.addEventListener('message', (ev) => {
      if (typeof ev.data === 'string') return;
      got += ev.data.byteLength;
      if (got >= total) oldClient.send('file-done');
    });
  }

  // `total` bytes in binary messages of `chunk` bytes, held back while
  // 8 MiB are buffered (as Parlor's file sender); MB/s until the responder
  // has them all.
  async function fileThroughput(total, chunk) {
    initiator();
    const channel = oldClient.channel();
    channel.bufferedAmountLowThreshold = 4 * 1024 * 1024;
    const data = new Uint8Array(chunk);
    for (let i = 0; i < chunk; i += 65536) {
      crypto.getRandomValues(data.subarray(i, Math.min(chunk, i + 65536)));
    }
    const done = nextText();
    const start = performance.now();
    for (let sent = 0; sent < total; sent += chunk) {
      if (channel.bufferedAmount > 8 * 1024 * 1024) {
        await new Promise((resolve) => channel.addEventListener('bufferedamountlow', resolve, { once: true }));
      }
      channel.send(data.subarray(0, Math.min(chunk, total - sent)));
    }
    await done;
    return total / ((performance.now() - start) / 1000) / 1e6;
  }

  return { responder, roundTrips, throughput, fileResponder, fileThroughput };
}());
