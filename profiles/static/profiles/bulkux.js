// "Set fields…": typing a value chooses "Set to" for that tag; choosing "Leave alone" or "Clear" empties it.
// Without JavaScript the server says which choice and value disagree.
(function () {
  "use strict";
  function radios(name) {
    return document.querySelectorAll('input[type="radio"][name="' + name + '"]');
  }
  function attach(input) {
    const group = input.dataset.bulkChoice;
    function choose() {
      if (input.value === "") { return; }
      radios(group).forEach(function (radio) { radio.checked = radio.value === "set"; });
    }
    input.addEventListener("input", choose);
    input.addEventListener("change", choose);
    radios(group).forEach(function (radio) {
      radio.addEventListener("change", function () {
        if (radio.checked && radio.value !== "set") {
          input.value = "";
          input.dispatchEvent(new Event("input"));  // the byte counter follows
        }
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("#set-fields-form [data-bulk-choice]").forEach(attach);
  });
})();
