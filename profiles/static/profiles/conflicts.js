// "Refresh from Tencent" reloads the profile form: ask before that throws away unsaved edits.
// The refresh form names the profile form (data-confirm-unsaved) and carries the translated
// question (data-confirm-text); data-unsaved-edits marks a form re-shown after a save that did
// not happen, whose fields already hold edits the page was rendered with.
(function () {
  "use strict";

  function differs(element) {
    if (element.type === "checkbox" || element.type === "radio") {
      return element.checked !== element.defaultChecked;
    }
    if (element.tagName === "SELECT") {
      var options = Array.prototype.slice.call(element.options);
      var marked = options.some(function (option) { return option.defaultSelected; });
      return options.some(function (option, index) {
        // With no option marked selected in the page, the browser showed the first one.
        var initial = marked ? option.defaultSelected : index === 0 && !element.multiple;
        return option.selected !== initial;
      });
    }
    return "defaultValue" in element && element.value !== element.defaultValue;
  }

  function hasEdits(form) {
    return Array.prototype.some.call(form.elements, function (element) {
      return element.name && !element.disabled && element.type !== "hidden" && element.type !== "submit" &&
        element.type !== "button" && differs(element);
    });
  }

  document.addEventListener("submit", function (event) {
    var refresh = event.target;
    if (!refresh.matches || !refresh.matches("form[data-confirm-unsaved]")) {
      return;
    }
    var form = document.getElementById(refresh.dataset.confirmUnsaved);
    var unsaved = refresh.dataset.unsavedEdits === "1" || (form !== null && hasEdits(form));
    if (unsaved && !window.confirm(refresh.dataset.confirmText)) {
      event.preventDefault();
    }
  });
})();
