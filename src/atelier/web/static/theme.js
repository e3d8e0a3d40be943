// Light or dark: the visitor's choice, else the system's. Kept in localStorage only.
(function () {
  var root = document.documentElement;
  var saved = localStorage.getItem("atelier-theme");
  if (saved) root.dataset.theme = saved;
  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.getElementById("theme-toggle");
    if (!toggle) return;
    toggle.addEventListener("click", function () {
      var dark = root.dataset.theme
        ? root.dataset.theme === "dark"
        : window.matchMedia("(prefers-color-scheme: dark)").matches;
      root.dataset.theme = dark ? "light" : "dark";
      localStorage.setItem("atelier-theme", root.dataset.theme);
    });
  });
})();
