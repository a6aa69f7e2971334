// Checks a personnummer or samordningsnummer while it is typed. The server checks again on submit.
(function () {
  "use strict";
  function luhnOk(ten) {
    var sum = 0;
    for (var i = 0; i < 9; i++) {
      var n = Number(ten[i]) * (i % 2 === 0 ? 2 : 1);
      sum += n > 9 ? n - 9 : n;
    }
    return (10 - (sum % 10)) % 10 === Number(ten[9]);
  }
  function problem(value) {
    var text = value.replace(/\s/g, "");
    if (!text) return "";
    var m = /^(\d{2})?(\d{6})[-+]?(\d{4})$/.exec(text);
    if (!m) return "Ange 12 siffror: ÅÅÅÅMMDD-NNNN.";
    var digits = m[2] + m[3];
    if (!luhnOk(digits)) return "Kontrollsiffran stämmer inte.";
    var month = Number(m[2].slice(2, 4)), day = Number(m[2].slice(4, 6));
    if (day > 60) day -= 60;
    if (month < 1 || month > 12 || day < 1 || day > 31) return "Numret innehåller inget giltigt datum.";
    return "";
  }
  document.addEventListener("DOMContentLoaded", function () {
    var input = document.getElementById("patient_id");
    var help = document.getElementById("pid-help");
    if (!input || !help) return;
    var original = help.textContent;
    input.addEventListener("input", function () {
      var message = problem(input.value);
      input.setCustomValidity(message);
      input.setAttribute("aria-invalid", message ? "true" : "false");
      help.textContent = message || original;
      help.className = message ? "help error" : "help";
    });
  });
})();
