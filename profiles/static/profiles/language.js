// The language switch submits as soon as a language is chosen (templates/admin/base_site.html).
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("language-switch");
  if (!form) return;
  form.classList.add("auto");
  form.querySelector("select").addEventListener("change", () => form.submit());
});
