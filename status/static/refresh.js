// Reload the page every refresh interval while the box is ticked (unticked: read in peace).
// The choice is kept for the tab's session. No other script runs on the page.
"use strict";
(function () {
  var box = document.getElementById("auto-refresh");
  var seconds = parseFloat(document.body.getAttribute("data-refresh-s")) || 10;
  if (!box) return;
  box.checked = sessionStorage.getItem("jboxmon-auto-refresh") !== "off";
  box.addEventListener("change", function () {
    sessionStorage.setItem("jboxmon-auto-refresh", box.checked ? "on" : "off");
  });
  setInterval(function () {
    if (box.checked && !document.hidden) location.reload();
  }, Math.max(seconds, 2) * 1000);
})();
