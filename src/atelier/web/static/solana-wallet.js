// Solana on the market's pages: auction countdowns, and paying with a wallet of your own.
// Wallets are found through the Wallet Standard (the `wallet-standard:*` window events every
// current Solana wallet answers); the page asks the market's Action for a transaction built
// for the wallet's account, the wallet signs it, and it is sent: to the embedded runtime's
// JSON-RPC on a development machine (`data-rpc`), else by the wallet itself. The Action's
// `next` link then records it. Amounts and recipients are the server's: this script only
// carries bytes between the page, the wallet and the chain.
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
  } catch (error) { /* a browser without CustomEvent has no wallet either */ }

  function countdowns() {
    document.querySelectorAll(".countdown[data-ends]").forEach(function (node) {
      var left = Math.max(0, Math.floor((Date.parse(node.dataset.ends) - Date.now()) / 1000));
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      node.textContent = left === 0 ? "ended" :
        (h ? h + " h " : "") + (h || m ? m + " min " : "") + s + " s left";
    });
  }
  setInterval(countdowns, 1000);
  document.addEventListener("DOMContentLoaded", countdowns);

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
  function pause(ms) { return new Promise(function (done) { setTimeout(done, ms); }); }

  async function postJson(url, body) {
    var answer = await fetch(url, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    var data = await answer.json();
    if (!answer.ok) throw new Error(data.message || data.detail || "refused");
    return data;
  }

  async function pay(box, status) {
    var wallet = wallets.find(function (w) { return w.features && w.features["solana:signTransaction"]; });
    if (!wallet) throw new Error("no Solana wallet in this browser (install one, or use your market wallet)");
    var connected = await wallet.features["standard:connect"].connect();
    var account = (connected.accounts || wallet.accounts)[0];
    var url = box.dataset.action;
    if (box.dataset.amountField) {
      var field = document.getElementById(box.dataset.amountField);
      url += "?amount=" + encodeURIComponent(field ? field.value : "");
    }
    status.textContent = "Building the transaction for " + account.address.slice(0, 8) + "…";
    var action = await postJson(url, { account: account.address });
    status.textContent = "Asking your wallet to sign…";
    var input = { transaction: bytesOf(action.transaction), account: account, chain: box.dataset.chain };
    var signature;
    if (box.dataset.rpc || !wallet.features["solana:signAndSendTransaction"]) {
      var signed = (await wallet.features["solana:signTransaction"].signTransaction(input))[0];
      var sent = await postJson(box.dataset.rpc || "/solana/rpc", {
        jsonrpc: "2.0", id: 1, method: "sendTransaction",
        params: [base64Of(signed.signedTransaction), { encoding: "base64" }],
      });
      if (sent.error) throw new Error(sent.error.message);
      signature = sent.result;
    } else {
      var done = (await wallet.features["solana:signAndSendTransaction"].signAndSendTransaction(input))[0];
      signature = base64Of(done.signature);
    }
    status.textContent = "Sent; waiting for the chain…";
    for (var attempt = 0; attempt < 30; attempt++) {
      try {
        await postJson(action.links.next.href, { account: account.address, signature: signature });
        status.textContent = "Done: recorded on chain.";
        window.location.reload();
        return;
      } catch (error) { await pause(1000); }
    }
    throw new Error("the transaction did not land in time");
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".wallet-action").forEach(function (box) {
      var button = box.querySelector("button.own-wallet");
      var status = box.querySelector("[role=status]");
      button.addEventListener("click", async function () {
        button.disabled = true;
        try { await pay(box, status); } catch (error) { status.textContent = "Not done: " + (error.message || error); }
        button.disabled = false;
      });
    });
  });
})();
