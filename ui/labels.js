// What the window calls each step of a connection. The keys are the engine's
// stable names (parlor-session's `Step`, WebRTC's ICE states); a test
// (src-tauri/tests/labels.rs) checks that every name the engine can emit has
// a label here, and that nothing here is a name the engine never emits.
"use strict";

/** Negotiation steps (`negotiation` events' `step`). */
const STEP_LABELS = {
  "offer-sent": "Offer sent",
  "offer-resent": "Offer sent again",
  "offer-unanswered": "Offer unanswered; waiting for the other side",
  "offer-received": "Offer received",
  "answer-sent": "Answer sent",
  "answer-resent": "Answer sent again",
  "answer-received": "Answer received",
  "rolled-back-for-glare": "Both offered at once; answering theirs",
  "ignored-colliding-offer": "Both offered at once; keeping ours",
  "ice-restart": "Restarting ICE",
  "ice-restart-offer-sent": "ICE restart offer sent",
  "remote-restarted": "Peer started over; rebuilding the connection",
  "handshake-timed-out": "Encrypted handshake failed; rebuilding the connection",
  "network-changed": "This machine's network changed; rebuilding the connection",
  "no-path-yet": "No network path works yet; starting over",
  "operation-failed": "A WebRTC step failed; recovering",
};

/** ICE connection states (`ice` events' `state`). */
const ICE_LABELS = {
  new: "ICE starting",
  checking: "ICE checking paths",
  connected: "ICE connected",
  completed: "ICE completed",
  disconnected: "ICE disconnected",
  failed: "ICE failed",
  closed: "ICE closed",
};
