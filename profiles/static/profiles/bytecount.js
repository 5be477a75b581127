// Shows "n / max bytes" under every input with data-max-bytes: Tencent counts UTF-8 bytes (docs/tencent-im.md §2).
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
      counter.textContent = used + " / " + max + " bytes";
      counter.style.color = used > max ? "#ba2121" : "";
    }
    input.addEventListener("input", update);
    update();
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-max-bytes]").forEach(attach);
  });
})();
