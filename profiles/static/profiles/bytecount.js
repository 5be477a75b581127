// Shows "n / max bytes" under every input with data-max-bytes: Tencent counts UTF-8 bytes (docs/tencent-im.md §2).
// Past the limit the counter gets the class over-limit (improfile.css), not an inline style. The words come
// translated in the input's data-count-text ("%(used)s / %(max)s bytes").
(function () {
  "use strict";
  const encoder = new TextEncoder();
  function attach(input) {
    const max = parseInt(input.dataset.maxBytes, 10);
    const counter = document.createElement("div");
    counter.className = "byte-count help";
    input.insertAdjacentElement("afterend", counter);
    function update() {
      const used = encoder.encode(input.value).length;
      const text = input.dataset.countText || "%(used)s / %(max)s bytes";
      counter.textContent = text.replace("%(used)s", used).replace("%(max)s", max);
      counter.classList.toggle("over-limit", used > max);
    }
    input.addEventListener("input", update);
    update();
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-max-bytes]").forEach(attach);
  });
})();
