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

  return { responder, roundTrips, throughput };
}());
