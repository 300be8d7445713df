// The import page: upload with a progress bar, then go to the import's own page.
// Without this script the form posts as usual; with it the same form is sent by
// XMLHttpRequest so the operator sees how much of a large file has gone up.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) {
    return;
  }
  var bar = form.querySelector("[data-testid=upload-progress]");
  var button = form.querySelector("[data-testid=upload-submit]");
  var box = document.querySelector("[data-testid=upload-error]");

  function say(text) {
    box.textContent = text; // text only: never markup from the answer
    box.hidden = !text;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var data = new FormData(form);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.getAttribute("action"));
    xhr.setRequestHeader("X-CSRF-Token", form.elements.csrf.value);
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        bar.hidden = false;
        bar.value = Math.floor((100 * e.loaded) / e.total);
      }
    });
    xhr.addEventListener("load", function () {
      var landed = xhr.responseURL || "";
      if (xhr.status === 200 && /\/imports\/\d+$/.test(new URL(landed, location.href).pathname)) {
        location.assign(landed); // the redirect to the import's page was followed
        return;
      }
      var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var why = page.querySelector("[data-testid=upload-error]");
      say(why && why.textContent.trim() ? why.textContent.trim() : "HTTP " + xhr.status);
      done();
    });
    xhr.addEventListener("error", function () {
      say(button.getAttribute("data-failed") || "upload failed");
      done();
    });
    button.disabled = true;
    button.textContent = button.getAttribute("data-uploading");
    say("");
    xhr.send(data);
  });

  var label = button.textContent;
  function done() {
    button.disabled = false;
    button.textContent = label;
    bar.hidden = true;
  }
})();
