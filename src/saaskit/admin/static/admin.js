// saaskit admin: theme, confirmations, charts and htmx error display. No inline scripts
// (the pages' Content-Security-Policy allows scripts from this origin only).
(function () {
  "use strict";
  var KEY = "saaskit-admin-theme";
  var root = document.documentElement;
  try {
    var saved = localStorage.getItem(KEY);
    if (saved === "light" || saved === "dark") root.dataset.theme = saved;
  } catch (e) { /* storage disabled: follow the system */ }

  function effectiveTheme() {
    if (root.dataset.theme) return root.dataset.theme;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function toggleTheme() {
    var next = effectiveTheme() === "dark" ? "light" : "dark";
    root.dataset.theme = next;
    try { localStorage.setItem(KEY, next); } catch (e) { /* not kept */ }
    drawCharts(document, true);
  }

  var charts = [];
  function cssVar(name) { return getComputedStyle(root).getPropertyValue(name).trim(); }

  function drawCharts(scope, redraw) {
    if (!window.Chart) return;
    if (redraw) { charts.forEach(function (c) { c.destroy(); }); charts = []; scope = document; }
    var text = cssVar("--text"), muted = cssVar("--muted"), border = cssVar("--border");
    var palette = [cssVar("--accent"), cssVar("--ok"), cssVar("--warn"), cssVar("--bad"), muted];
    scope.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn && !redraw) return;
      var source = document.getElementById(canvas.dataset.chart);
      if (!source) return;
      var spec = JSON.parse(source.textContent);
      var round = spec.type === "doughnut" || spec.type === "pie";
      (spec.data.datasets || []).forEach(function (ds, i) {
        var color = palette[i % palette.length];
        // Round charts colour each slice; the others each dataset.
        if (!ds.backgroundColor) {
          ds.backgroundColor = round ? (ds.data || []).map(function (_, j) { return palette[j % palette.length]; })
            : spec.type === "line" ? color : color + "cc";
        }
        if (!ds.borderColor) ds.borderColor = round ? cssVar("--surface") || "#fff" : color;
      });
      spec.options = spec.options || {};
      spec.options.responsive = true;
      spec.options.maintainAspectRatio = false;
      spec.options.animation = false;
      spec.options.plugins = spec.options.plugins || {};
      spec.options.plugins.legend = Object.assign({ labels: { color: text } }, spec.options.plugins.legend || {});
      spec.options.scales = spec.options.scales || {};
      if (!round) ["x", "y"].forEach(function (axis) {
        var scale = spec.options.scales[axis] = spec.options.scales[axis] || {};
        scale.ticks = Object.assign({ color: muted }, scale.ticks || {});
        scale.grid = Object.assign({ color: border }, scale.grid || {});
      });
      charts.push(new window.Chart(canvas, spec));
      canvas.dataset.drawn = "1";
    });
  }

  function showError(message) {
    var area = document.getElementById("flash-area");
    if (!area) return;
    var box = document.createElement("div");
    box.className = "flash flash-error";
    box.setAttribute("role", "alert");
    box.textContent = message;
    area.replaceChildren(box);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-theme-toggle]").forEach(function (b) { b.addEventListener("click", toggleTheme); });
    drawCharts(document, false);
  });

  // Filters marked data-autosubmit apply as soon as a field changes (no inline handlers: CSP).
  document.addEventListener("change", function (event) {
    var form = event.target && event.target.form;
    if (form && form.hasAttribute("data-autosubmit")) form.requestSubmit();
  });

  // Destructive plain forms ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }, true);

  document.addEventListener("htmx:afterSwap", function (event) { drawCharts(event.detail.target, false); });
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    var text = doc.querySelector(".error-card p");
    showError((text && text.textContent) || ("The request failed (HTTP " + xhr.status + ")."));
  });
  document.addEventListener("htmx:sendError", function () {
    showError("The server could not be reached. Check the connection and try again.");
  });
})();
