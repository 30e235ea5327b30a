// The live page: the webcam's frames sent as JPEG over the WebSocket (the session cookie
// authenticates it), and the answers drawn as boxes with names over the video.
"use strict";
const live = {
  IN_FLIGHT: 2,  // frames sent but not answered yet, at most: the server keeps the newest

  init(section) {
    this.section = section;
    this.video = section.querySelector("video");
    this.stage = section.querySelector(".live-stage");
    this.boxes = section.querySelector(".live-boxes");
    this.button = section.querySelector("#live-toggle");
    this.rate = section.querySelector("#live-rate");
    this.status = section.querySelector("#live-status");
    this.message = section.querySelector("#live-message");
    this.list = section.querySelector("#live-faces");
    this.frameWidth = Number(section.dataset.frameWidth) || 640;
    this.canvas = document.createElement("canvas");
    this.running = false;
    this.button.addEventListener("click", () => (this.running ? this.stop() : this.start()));
    this.rate.addEventListener("change", () => { if (this.running) this.schedule(); });
    window.addEventListener("resize", () => this.draw());
    window.addEventListener("pagehide", () => this.stop());
  },

  say(text) { this.status.textContent = text; },

  fail(text) {
    this.message.textContent = text;
    this.message.hidden = false;
  },

  // Why the camera could not be opened, in words (no console error: this is expected).
  cameraProblem(error) {
    const name = error && error.name;
    if (name === "NotAllowedError" || name === "SecurityError")
      return "The camera may not be used: allow it for this site in the browser's settings, then press Start camera again.";
    if (name === "NotFoundError" || name === "OverconstrainedError")
      return "No camera was found. Connect one, then press Start camera again.";
    if (name === "NotReadableError" || name === "AbortError")
      return "The camera could not be started: another application may be using it.";
    return `The camera could not be started${error && error.message ? `: ${error.message}` : "."}`;
  },

  async start() {
    this.message.hidden = true;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      this.fail("This browser cannot use a camera here: cameras work only on pages served over HTTPS (or from localhost).");
      return;
    }
    this.running = true;
    this.button.disabled = true;
    this.say("Asking for the camera…");
    try {
      this.stream = await navigator.mediaDevices.getUserMedia(
        {video: {width: {ideal: 1280}, height: {ideal: 720}}, audio: false});
    } catch (error) {
      this.running = false;
      this.button.disabled = false;
      this.say("Camera off.");
      this.fail(this.cameraProblem(error));
      return;
    }
    if (!this.running) { this.release(); return; }  // stopped meanwhile
    this.video.srcObject = this.stream;
    this.stage.hidden = false;
    try { await this.video.play(); } catch (error) { /* muted video: play() is allowed */ }
    this.button.textContent = "Stop camera";
    this.button.setAttribute("aria-pressed", "true");
    this.button.disabled = false;
    this.connect();
  },

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.socket = new WebSocket(`${scheme}//${location.host}${this.section.dataset.socket}`);
    this.socket.binaryType = "arraybuffer";
    this.sent = 0;         // frames sent on this connection; the server numbers them from 0
    this.answered = -1;    // the last frame answered (or refused)
    this.sentAt = new Map();
    this.roundTrips = [];
    this.dropped = 0;
    this.say("Connecting…");
    this.socket.addEventListener("open", () => { this.say("Connected."); this.schedule(); });
    this.socket.addEventListener("message", (event) => this.receive(JSON.parse(event.data)));
    this.socket.addEventListener("close", (event) => {
      if (!this.running || event.target !== this.socket) return;
      this.stop();
      this.fail(event.code === 1008
        ? `The server refused the connection: ${event.reason || "not allowed"}. Sign in again and reload the page.`
        : `The connection to the server closed${event.reason ? `: ${event.reason}` : ""}. Press Start camera to try again.`);
    });
  },

  schedule() {
    clearInterval(this.timer);
    this.timer = setInterval(() => this.capture(), 1000 / Number(this.rate.value));
  },

  // Send the current picture, unless the server is still busy with earlier ones.
  capture() {
    const video = this.video;
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN || document.hidden) return;
    if (!video.videoWidth || this.encoding) return;
    if (this.sent - 1 - this.answered >= this.IN_FLIGHT) return;
    const scale = Math.min(1, this.frameWidth / video.videoWidth);
    this.canvas.width = Math.round(video.videoWidth * scale);
    this.canvas.height = Math.round(video.videoHeight * scale);
    this.canvas.getContext("2d").drawImage(video, 0, 0, this.canvas.width, this.canvas.height);
    this.encoding = true;
    this.canvas.toBlob((blob) => {
      this.encoding = false;
      if (!blob || !this.socket || this.socket.readyState !== WebSocket.OPEN) return;
      this.sentAt.set(this.sent, performance.now());
      this.sent += 1;
      this.socket.send(blob);
    }, "image/jpeg", 0.8);
  },

  receive(answer) {
    if (answer.frame !== undefined) {
      const sentAt = this.sentAt.get(answer.frame);
      for (const frame of this.sentAt.keys()) if (frame <= answer.frame) this.sentAt.delete(frame);
      this.answered = Math.max(this.answered, answer.frame);
      if (sentAt !== undefined && !answer.error) {
        this.roundTrips.push(performance.now() - sentAt);
        if (this.roundTrips.length > 20) this.roundTrips.shift();
      }
    }
    this.dropped += answer.dropped || 0;
    if (answer.error) { this.say(`Frame ${answer.frame ?? ""} refused: ${answer.error}`); return; }
    this.last = answer;
    this.draw();
    this.showFaces(answer.faces);
    const sorted = [...this.roundTrips].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] || 0;
    this.say(`Live · latency ${Math.round(median)} ms (server ${Math.round(answer.latency_ms)} ms)` +
             ` · ${answer.faces.length} face${answer.faces.length === 1 ? "" : "s"}` +
             (this.dropped ? ` · ${this.dropped} frame${this.dropped === 1 ? "" : "s"} skipped while busy` : ""));
  },

  label(face) {
    if (!face.person) return "unknown";
    const doubt = face.decision === "review" ? "?" : "";
    return `${face.person.name}${doubt} ${face.similarity.toFixed(2)}`;
  },

  // Boxes in the sent frame's pixels, scaled to the video as shown. A track keeps its box
  // element from answer to answer; boxes of faces no longer in view are removed.
  draw() {
    const answer = this.last;
    if (!answer || !this.running || !this.video.clientWidth) {
      this.boxes.replaceChildren();
      return;
    }
    const scale = this.video.clientWidth / answer.width;
    const shown = new Map([...this.boxes.children].map((box) => [box.dataset.track, box]));
    for (const face of answer.faces) {
      const [x1, y1, x2, y2] = face.bbox;
      const track = String(face.track_id);
      let box = shown.get(track);
      shown.delete(track);
      if (!box) {
        box = document.createElement("div");
        box.dataset.track = track;
        box.append(document.createElement("span"));
        this.boxes.append(box);
      }
      box.className = `box ${face.decision}${y1 * scale < 22 ? " label-below" : ""}`;
      Object.assign(box.style, {left: `${x1 * scale}px`, top: `${y1 * scale}px`,
                                width: `${(x2 - x1) * scale}px`, height: `${(y2 - y1) * scale}px`});
      box.firstChild.textContent = this.label(face);
    }
    for (const gone of shown.values()) gone.remove();
  },

  // The list of faces in view, rewritten only when it changes (it is read out).
  showFaces(faces) {
    const lines = faces.map((face) => {
      const who = face.person ? face.person.name : "Someone unknown";
      const how = {match: "recognised", review: "perhaps", unknown: "not recognised"}[face.decision];
      return [face.decision, `${who} (${how})`];
    }).sort((a, b) => a[1].localeCompare(b[1]));
    const text = lines.map((line) => line.join(":")).join("|");
    if (text === this.listed) return;
    this.listed = text;
    this.list.replaceChildren(...(lines.length ? lines.map(([decision, line]) => {
      const item = document.createElement("li");
      const badge = document.createElement("span");
      badge.className = `badge ${decision}`;
      badge.textContent = decision;
      item.append(badge, " ", line);
      return item;
    }) : [Object.assign(document.createElement("li"), {className: "muted", textContent: "Nobody in view."})]));
  },

  release() {
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
  },

  stop() {
    this.running = false;
    clearInterval(this.timer);
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState === WebSocket.OPEN) socket.close(1000, "stopped");
    // Closing a socket still connecting makes the browser log an error: close it once open.
    else if (socket && socket.readyState === WebSocket.CONNECTING)
      socket.addEventListener("open", () => socket.close(1000, "stopped"));
    this.release();
    this.video.srcObject = null;
    this.stage.hidden = true;
    this.last = null;
    this.draw();
    this.button.textContent = "Start camera";
    this.button.setAttribute("aria-pressed", "false");
    this.button.disabled = false;
    this.say("Camera off.");
  },
};

document.addEventListener("DOMContentLoaded", () => {
  const section = document.querySelector("section.live");
  if (section) live.init(section);
});
