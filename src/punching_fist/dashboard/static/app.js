// Punching Fist dashboard: live fragments over server-sent events. No framework, no build.
// An element with data-live="URL" is replaced by each "update" event's HTML, which the
// server rendered and escaped; this script never builds markup from data itself.
(function () {
  "use strict";
  function follow(element) {
    var url = element.getAttribute("data-live");
    if (!url || !window.EventSource) { return; }
    var source = new EventSource(url);
    source.addEventListener("update", function (event) {
      if (event.lastEventId && event.lastEventId === element.getAttribute("data-version")) {
        return; // what the page already shows
      }
      var focused = document.activeElement;
      if (focused && element.contains(focused) && focused.tagName === "INPUT" && focused.value) {
        return; // someone is typing a note here: keep their text until they submit
      }
      element.innerHTML = event.data;
      element.setAttribute("data-version", event.lastEventId);
      element.setAttribute("data-updated", String(Date.now()));
    });
    source.onopen = function () { element.classList.add("live"); };
    source.onerror = function () { element.classList.remove("live"); };
  }
  document.addEventListener("DOMContentLoaded", function () {
    var elements = document.querySelectorAll("[data-live]");
    for (var i = 0; i < elements.length; i++) { follow(elements[i]); }
  });
})();
