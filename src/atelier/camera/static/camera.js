// The camera page: check in with a Solana wallet (Wallet Standard), enrol or forget a face,
// take photos and videos, see the current gesture. Every error the API returns is shown next to the control it concerns.
(function () {
  var wallets = [];
  function register() {
    for (var i = 0; i < arguments.length; i++) wallets.push(arguments[i]);
    return function () {};
  }
  window.addEventListener("wallet-standard:register-wallet", function (event) {
    event.detail({ register: register });
  });
  try {
    window.dispatchEvent(new CustomEvent("wallet-standard:app-ready", { detail: { register: register } }));
  } catch (error) { /* no CustomEvent: no wallet either */ }

  var token = sessionStorage.getItem("camera-token");
  function $(id) { return document.getElementById(id); }
  function bytesOf(base64) {
    var text = atob(base64), bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes;
  }
  function base64Of(bytes) {
    var text = "";
    for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text);
  }
  async function api(method, path, body) {
    var headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    var response = await fetch(path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined });
    var data = response.status === 204 ? null : await response.json();
    if (!response.ok) throw new Error((data && (data.detail || data.title)) || response.statusText);
    return data;
  }
  function show(signedIn) {
    $("checkin-button").hidden = signedIn;
    $("checkout-button").hidden = !signedIn;
    $("face").hidden = !signedIn;
    $("media").hidden = !signedIn;
  }
  var fetched = {};  // media id -> object URL, fetched once
  async function gallery(kind, tag, records) {
    var items = await Promise.all(records.map(async function (record) {
      if (!fetched[record.id]) {
        var answer = await fetch("/api/" + kind + "/" + record.id, { headers: { Authorization: "Bearer " + token } });
        fetched[record.id] = URL.createObjectURL(await answer.blob());
      }
      var item = document.createElement("li"), element = document.createElement(tag);
      element.src = fetched[record.id];
      if (tag === "video") { element.controls = true; element.setAttribute("aria-label", "video taken " + record.taken_at); }
      else element.alt = "photo taken " + record.taken_at + (record.trigger !== "api" ? " by " + record.trigger : "");
      item.appendChild(element);
      return item;
    }));
    $(kind).replaceChildren.apply($(kind), items);
  }
  async function gesture() {
    try {
      var current = await api("GET", "/api/gesture/current");
      $("gesture").textContent = "Gesture: " + (current.gesture ? current.gesture.replace("_", " ") : "none") +
        (current.hands.length ? " · " + current.hands.length + " hand(s)" : "");
    } catch (error) { $("gesture").textContent = "Gesture: " + error.message; }
  }
  async function refresh() {
    try {
      var status = await api("GET", "/api/status");
      $("status").textContent = "source " + status.source.state + " · " + status.pipeline.faces +
        " face(s) in view · " + status.checked_in + " checked in" +
        (status.source.error ? " · " + status.source.error : "");
    } catch (error) { $("status").textContent = error.message; }
    if (!token) { show(false); return; }
    try {
      var session = await api("GET", "/api/session/current");
      $("session").textContent = "Checked in as " + session.wallet;
      show(true);
      var faces = await api("GET", "/api/face");
      var active = faces.filter(function (f) { return !f.purged_at; });
      $("face-state").textContent = active.length ? "Your face is enrolled until " +
        new Date(active[0].expires_at * 1000).toLocaleString() : "No face enrolled.";
      await gallery("photos", "img", await api("GET", "/api/photos"));
      await gallery("videos", "video", await api("GET", "/api/videos"));
    } catch (error) {
      token = null; sessionStorage.removeItem("camera-token"); show(false);
    }
  }
  async function checkIn() {
    $("checkin-error").textContent = "";
    var wallet = wallets.find(function (w) { return w.features && w.features["solana:signTransaction"]; });
    if (!wallet) { $("checkin-error").textContent = "No Solana wallet found in this browser."; return; }
    try {
      var account = wallet.accounts[0];
      if (!account && wallet.features["standard:connect"]) {
        account = (await wallet.features["standard:connect"].connect()).accounts[0];
      }
      var challenge = await api("POST", "/api/session/challenge", { wallet: account.address, chain: "solana" });
      var signed = (await wallet.features["solana:signTransaction"].signTransaction({
        account: account, transaction: bytesOf(challenge.transaction)
      }))[0];
      var started = await api("POST", "/api/session/checkin", {
        nonce: challenge.nonce, transaction: base64Of(signed.signedTransaction)
      });
      token = started.token;
      sessionStorage.setItem("camera-token", token);
      await refresh();
    } catch (error) { $("checkin-error").textContent = error.message; }
  }
  async function act(errorId, fn) {
    $(errorId).textContent = "";
    try { await fn(); await refresh(); } catch (error) { $(errorId).textContent = error.message; }
  }
  document.addEventListener("DOMContentLoaded", function () {
    $("checkin-button").addEventListener("click", checkIn);
    $("checkout-button").addEventListener("click", function () {
      act("checkin-error", async function () {
        await api("POST", "/api/session/checkout");
        token = null; sessionStorage.removeItem("camera-token");
      });
    });
    $("enrol-button").addEventListener("click", function () {
      act("face-error", function () { return api("POST", "/api/face/enrol", { consent: $("consent").checked }); });
    });
    $("forget-button").addEventListener("click", function () {
      act("face-error", function () { return api("DELETE", "/api/face"); });
    });
    $("capture-button").addEventListener("click", function () {
      act("capture-error", function () { return api("POST", "/api/capture"); });
    });
    $("record-button").addEventListener("click", function () {
      $("record-button").disabled = true;
      act("capture-error", function () {
        return api("POST", "/api/record", { seconds: 10, past_s: 5 });
      }).finally(function () { $("record-button").disabled = false; });
    });
    refresh();
    gesture();
    setInterval(refresh, 5000);
    setInterval(gesture, 1000);
  });
})();
