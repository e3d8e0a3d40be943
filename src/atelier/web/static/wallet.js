// The browser's wallet (EIP-1193 `window.ethereum`) on the site's pages: sign in (SIWE,
// personal_sign), link it to your account (a signed challenge), and vote (EIP-712,
// eth_signTypedData_v4). The server writes every message and checks every signature exactly
// as the API does; this script only carries them between the page and the wallet.
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

  async function account() {
    var accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
    return accounts[0];
  }

  async function personalSign(message, address) {
    return window.ethereum.request({ method: "personal_sign", params: [hexOf(message), address] });
  }

  // The button `id` runs `action(status)` with the wallet; what went wrong is said in the
  // page's wallet status line, after `failure`.
  function walletButton(id, missing, failure, action) {
    document.addEventListener("DOMContentLoaded", function () {
      var button = document.getElementById(id);
      var status = document.getElementById("wallet-status");
      if (!button) return;
      if (!window.ethereum) {
        status.textContent = missing;
        button.disabled = true;
        return;
      }
      button.addEventListener("click", async function () {
        status.textContent = "Asking your wallet…";
        try {
          await action(status);
        } catch (error) {
          status.textContent = failure + (error.message || error);
        }
      });
    });
  }

  walletButton(
    "wallet-sign-in",
    "No browser wallet found (an EIP-1193 wallet such as MetaMask).",
    "Not signed in: ",
    async function () {
      var address = await account();
      var chainHex = await window.ethereum.request({ method: "eth_chainId" });
      var made = await post("/sign-in/wallet/message", {
        address: address,
        chain_id: parseInt(chainHex, 16),
      });
      var signature = await personalSign(made.message, address);
      var done = await post("/sign-in/wallet", { message: made.message, signature: signature });
      window.location.assign(done.redirect);
    }
  );

  walletButton("wallet-link", "No browser wallet found to link.", "Not linked: ", async function () {
    var address = await account();
    var made = await post("/dashboard/wallets/challenge", { address: address });
    var signature = await personalSign(made.message, address);
    var done = await post("/dashboard/wallets/link", { message: made.message, signature: signature });
    window.location.assign(done.redirect);
  });

  walletButton("wallet-vote", "No browser wallet found to sign with.", "Not counted: ", async function (status) {
    var form = document.getElementById("vote-form");
    var chosen = form.querySelector('input[name="choice"]:checked');
    if (!chosen) { status.textContent = "Choose first."; return; }
    var reason = form.querySelector('textarea[name="reason"]').value;
    var proposal = form.dataset.proposal;
    var address = await account();
    var query = new URLSearchParams({ wallet: address, vote: chosen.value, reason: reason });
    var answer = await fetch("/proposals/" + proposal + "/typed-data?" + query);
    var typed = await answer.json();
    if (!answer.ok) throw new Error(typed.detail);
    var signature = await window.ethereum.request({
      method: "eth_signTypedData_v4",
      params: [address, JSON.stringify(typed)],
    });
    await post("/proposals/" + proposal + "/signed-vote", {
      wallet: address, vote: chosen.value, reason: reason,
      timestamp: typed.message.timestamp, signature: signature,
    });
    window.location.reload();
  });
})();
