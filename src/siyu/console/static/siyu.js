// What every console page shares. The console runs under a Content-Security-Policy that allows
// scripts from /static only, so behaviour lives here instead of in on*= attributes:
// <select data-autosubmit> submits its form when changed.
// Siyu.esc(text) escapes a string for HTML: every data-derived string a chart puts into a
// tooltip (ECharts renders tooltips as HTML) goes through it; chart labels are drawn on the
// canvas as text and need no escaping.
(function () {
  var HTML = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

  function esc(value) {
    return String(value == null ? "" : value).replace(/[&<>"']/g, function (c) { return HTML[c]; });
  }

  // A tooltip for one item ("name: value") or for an axis (the category, then a line per
  // series), every name and value escaped.
  function tooltip(p) {
    if (Array.isArray(p)) {
      var head = p.length ? esc(p[0].axisValueLabel) : "";
      return [head].concat(p.map(function (s) {
        return esc(s.seriesName) + ": " + esc(Array.isArray(s.value) ? s.value[s.value.length - 1] : s.value);
      })).join("<br>");
    }
    return esc(p.name) + ": " + esc(p.value);
  }

  window.Siyu = { esc: esc, tooltip: tooltip };

  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el && el.matches && el.matches("select[data-autosubmit]") && el.form) el.form.submit();
  });
})();
