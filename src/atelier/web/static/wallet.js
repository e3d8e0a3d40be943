// The browser's wallet (EIP-1193 `window.ethereum`) on the site's pages.
// Sign-In With Ethereum (EIP-1193 `window.ethereum`): the server
// writes the EIP-4361 message (fresh nonce, checksummed address), the wallet signs it
// (personal_sign), the server checks it and sets the session cookies.
(function () {
  function csrf() {
    var field = document.querySelector('input[name="csrf"]');
    return field ? field.value : "";
  }
  async function post(url, body) {
    var answer = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    var data = await answer.json();
    if (!answer.ok) throw new Error(data.detail || "the server refused");
    return data;
  }
  function hexOf(text) {
    var bytes = new TextEncoder().encode(text);
    return "0x" + Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }
  // A vote signed by the browser wallet (eth_signTypedData_v4 over the vote's EIP-712 data),
  // checked and stored as POST /api/vote does.
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("wallet-vote");
    var status = document.getElementById("wallet-status");
    var form = document.getElementById("vote-form");
    if (!button || !form) return;
    if (!window.ethereum) {
      status.textContent = "No browser wallet found to sign with.";
      button.disabled = true;
      return;
    }
    button.addEventListener("click", async function () {
      var chosen = form.querySelector('input[name="choice"]:checked');
      if (!chosen) { status.textContent = "Choose first."; return; }
      var reason = form.querySelector('textarea[name="reason"]').value;
      var proposal = form.dataset.proposal;
      status.textContent = "Asking your wallet…";
      try {
        var accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
        var query = new URLSearchParams({ wallet: accounts[0], vote: chosen.value, reason: reason });
        var answer = await fetch("/proposals/" + proposal + "/typed-data?" + query);
        var typed = await answer.json();
        if (!answer.ok) throw new Error(typed.detail);
        var signature = await window.ethereum.request({
          method: "eth_signTypedData_v4",
          params: [accounts[0], JSON.stringify(typed)],
        });
        await post("/proposals/" + proposal + "/signed-vote", {
          wallet: accounts[0], vote: chosen.value, reason: reason,
          timestamp: typed.message.timestamp, signature: signature,
        });
        window.location.reload();
      } catch (error) {
        status.textContent = "Not counted: " + (error.message || error);
      }
    });
  });

  // Linking the browser wallet to the signed-in account: it signs the server's challenge.
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("wallet-link");
    var status = document.getElementById("wallet-status");
    if (!button) return;
    if (!window.ethereum) {
      status.textContent = "No browser wallet found to link.";
      button.disabled = true;
      return;
    }
    button.addEventListener("click", async function () {
      status.textContent = "Asking your wallet…";
      try {
        var accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
        var made = await post("/dashboard/wallets/challenge", { address: accounts[0] });
        var signature = await window.ethereum.request({
          method: "personal_sign",
          params: [hexOf(made.message), accounts[0]],
        });
        var done = await post("/dashboard/wallets/link", { message: made.message, signature: signature });
        window.location.assign(done.redirect);
      } catch (error) {
        status.textContent = "Not linked: " + (error.message || error);
      }
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("wallet-sign-in");
    var status = document.getElementById("wallet-status");
    if (!button) return;
    if (!window.ethereum) {
      status.textContent = "No browser wallet found (an EIP-1193 wallet such as MetaMask).";
      button.disabled = true;
      return;
    }
    button.addEventListener("click", async function () {
      status.textContent = "Asking your wallet…";
      try {
        var accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
        var chainHex = await window.ethereum.request({ method: "eth_chainId" });
        var made = await post("/sign-in/wallet/message", {
          address: accounts[0],
          chain_id: parseInt(chainHex, 16),
        });
        var signature = await window.ethereum.request({
          method: "personal_sign",
          params: [hexOf(made.message), accounts[0]],
        });
        var done = await post("/sign-in/wallet", { message: made.message, signature: signature });
        window.location.assign(done.redirect);
      } catch (error) {
        status.textContent = "Not signed in: " + (error.message || error);
      }
    });
  });
})();
