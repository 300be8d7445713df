/* The member centre's card: the member code is fetched again every minute (it rotates on the
   server), and the progress bar takes its width from its data attribute (no inline styles). */
(function () {
  "use strict";
  var bar = document.querySelector(".progress span[data-pct]");
  if (bar) { bar.style.width = Math.max(0, Math.min(100, parseInt(bar.getAttribute("data-pct"), 10) || 0)) + "%"; }
  var img = document.getElementById("member-code");
  if (!img) { return; }
  var seconds = parseInt(img.getAttribute("data-rotate"), 10) || 60;
  setInterval(function () { img.src = "/m/code.svg?t=" + Date.now(); }, seconds * 1000);
}());
