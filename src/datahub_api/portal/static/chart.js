// The portal charts' tooltips (templates/svg_chart.html): each column of an svg.chart-svg
// is a focusable <g class="point"> whose <title> holds its lines. On hover, touch or
// keyboard focus the lines are shown in a tooltip above the column; the arrow keys, Home
// and End move between columns, Escape hides the tooltip. The <title> is what a browser
// without script shows; with script it becomes the column's accessible name instead (so
// the browser's own slow tooltip does not show up as well).
(function () {
  "use strict";
  var counter = 0;

  function setUp(svg) {
    var points = Array.prototype.slice.call(svg.querySelectorAll("g.point"));
    if (!points.length) { return; }
    var holder = svg.parentNode;
    var tip = document.createElement("div");
    counter += 1;
    tip.id = "chart-tip-" + counter;
    tip.className = "chart-tip";
    tip.setAttribute("role", "tooltip");
    tip.hidden = true;
    holder.appendChild(tip);
    var shown = null;

    points.forEach(function (point) {
      var title = point.querySelector("title");
      var lines = (title ? title.textContent : point.getAttribute("aria-label") || "").split("\n");
      point.chartLines = lines;
      if (title) { point.removeChild(title); }
      point.setAttribute("role", "img");
      point.addEventListener("pointerenter", function () { show(point); });
      point.addEventListener("pointerleave", function (event) {
        if (event.pointerType === "mouse" && document.activeElement !== point) { hide(); }
      });
      point.addEventListener("pointerdown", function () { show(point); });
      point.addEventListener("focus", function () { show(point); });
      point.addEventListener("blur", function () { if (shown === point) { hide(); } });
      point.addEventListener("keydown", function (event) { move(point, event); });
    });
    document.addEventListener("pointerdown", function (event) {
      if (shown && !svg.contains(event.target)) { hide(); }
    });

    function show(point) {
      if (shown && shown !== point) { shown.classList.remove("active"); }
      shown = point;
      point.classList.add("active");
      tip.textContent = "";
      point.chartLines.forEach(function (line, index) {
        var row = document.createElement(index === 0 ? "strong" : "div");
        row.textContent = line;
        tip.appendChild(row);
      });
      tip.hidden = false;
      point.setAttribute("aria-describedby", tip.id);
      place(point);
    }

    function hide() {
      if (shown) {
        shown.classList.remove("active");
        shown.removeAttribute("aria-describedby");
      }
      shown = null;
      tip.hidden = true;
    }

    function place(point) {
      var box = holder.getBoundingClientRect();
      var hit = point.querySelector("rect.hit") || point;
      var column = hit.getBoundingClientRect();
      var top = column.top;  // above the tallest bar, or the column's top without one
      var bars = point.querySelectorAll("rect.bar");
      if (bars.length) {
        top = Infinity;
        bars.forEach(function (bar) { top = Math.min(top, bar.getBoundingClientRect().top); });
      }
      var centre = column.left + column.width / 2 - box.left;
      var left = Math.max(0, Math.min(centre - tip.offsetWidth / 2, box.width - tip.offsetWidth));
      var y = top - box.top - tip.offsetHeight - 8;
      if (y < 0) { y = top - box.top + 8; }
      tip.style.left = left + "px";
      tip.style.top = y + "px";
    }

    function move(point, event) {
      var index = points.indexOf(point);
      var next = null;
      if (event.key === "ArrowRight" || event.key === "ArrowDown") { next = points[index + 1]; }
      else if (event.key === "ArrowLeft" || event.key === "ArrowUp") { next = points[index - 1]; }
      else if (event.key === "Home") { next = points[0]; }
      else if (event.key === "End") { next = points[points.length - 1]; }
      else if (event.key === "Escape") { hide(); return; }
      else { return; }
      event.preventDefault();
      if (!next) { return; }
      point.setAttribute("tabindex", "-1");
      next.setAttribute("tabindex", "0");
      next.focus();
    }
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("svg.chart-svg"), setUp);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
