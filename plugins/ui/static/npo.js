// Checks a personnummer or samordningsnummer while it is typed, by the server's rules and with its messages
// (npo_core/identity.py parse_patient_id; tests/test_errors_in_place.py runs both on the same numbers).
// The server checks again on submit.
(function () {
  "use strict";
  // What Python's str.strip() takes away (str.isspace); inside the number only spaces are ignored.
  var EDGES = /^[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;
  function luhnOk(ten) {
    var sum = 0;
    for (var i = 0; i < 9; i++) {
      var n = Number(ten[i]) * (i % 2 === 0 ? 2 : 1);
      sum += n > 9 ? n - 9 : n;
    }
    return (10 - (sum % 10)) % 10 === Number(ten[9]);
  }
  function daysIn(year, month) {
    var leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  }
  function problem(value, today) {
    if (!value) return "";  // `required` says that one
    var text = value.replace(EDGES, "").replace(/ /g, "");
    var m = /^([0-9]{2})?([0-9]{6})([-+]?)([0-9]{4})$/.exec(text);
    if (!m) return "Ange personnummer eller samordningsnummer med 12 siffror (ÅÅÅÅMMDD-NNNN).";
    var century = m[1], yymmdd = m[2], sep = m[3];
    if (century === undefined) {  // ten digits: '-' under 100 years old, '+' 100 or over
      var yy = Number(yymmdd.slice(0, 2));
      var full = 2000 + yy <= today.getFullYear() ? 2000 + yy : 1900 + yy;
      if (sep === "+") full -= 100;
      century = String(Math.floor(full / 100));
    } else if (sep === "+") {
      return "Plustecken används bara med tio siffror.";
    }
    var digits = century + yymmdd + m[4];
    if (!luhnOk(digits.slice(2))) return "Kontrollsiffran stämmer inte. Kontrollera numret.";
    var year = Number(digits.slice(0, 4)), month = Number(digits.slice(4, 6)), day = Number(digits.slice(6, 8));
    if (day > 60) day -= 60;  // samordningsnummer
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) {
      return "Numret innehåller inget giltigt datum.";
    }
    var born = year * 10000 + month * 100 + day;
    var now = today.getFullYear() * 10000 + (today.getMonth() + 1) * 100 + today.getDate();
    if (born > now) return "Födelsedatumet ligger i framtiden.";
    return "";
  }
  document.addEventListener("DOMContentLoaded", function () {
    var input = document.getElementById("patient_id");
    var help = document.getElementById("pid-help");
    if (!input || !help) return;
    var original = help.textContent;
    function check() {
      var message = problem(input.value, new Date());
      input.setCustomValidity(message);
      input.setAttribute("aria-invalid", message ? "true" : "false");
      help.textContent = message || original;  // #pid-help is aria-live: the message is announced
      help.className = message ? "help error" : "help";
    }
    input.addEventListener("input", check);
    if (input.value) check();  // a refused search comes back with its number
  });
})();
// A wide table scrolls in its own box (.table-scroll, WCAG 1.4.10); the keyboard must be able to reach the box to
// scroll it (2.1.1), whichever template made it.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  document.querySelectorAll(".table-scroll:not([tabindex])").forEach(function (box) { box.tabIndex = 0; });
});
