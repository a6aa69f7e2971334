// What the clinician should know about their session, said so that a screen reader hears it too:
// - the confirmation of what they just did (consent, reveal, open) gets focus when the page comes back;
// - a session ends after its idle limit without a request (npo_core/sessions.py). Two minutes before, a
//   dialog says so and "Fortsätt arbeta" extends it (WCAG 2.2.1); typing in a form extends it as well, so
//   text being written is not lost to the limit. Nothing typed is stored in the browser: a reason or a
//   comment can hold patient data, and sessionStorage would keep it on a shared workstation after logout.
(function () {
  "use strict";
  var WARN_SECONDS = 120;
  var deadline = 0, timer = null, ticker = null, lastContact = Date.now(), typingEvery = 60000;
  var dialog = null, text = null, button = null, returnTo = null, extendable = true, dismissed = false;

  function secondsLeft() { return Math.max(0, (deadline - Date.now()) / 1000); }

  function when(left) {
    if (left < 60) return "om mindre än en minut";
    var minutes = Math.round(left / 60);
    return "om " + minutes + (minutes === 1 ? " minut" : " minuter");
  }

  function build() {
    dialog = document.createElement("dialog");
    dialog.className = "session-timeout";
    dialog.setAttribute("role", "alertdialog");
    dialog.setAttribute("aria-labelledby", "session-timeout-h");
    dialog.setAttribute("aria-describedby", "session-timeout-text");
    var heading = document.createElement("h2");
    heading.id = "session-timeout-h";
    heading.textContent = "Du loggas snart ut";
    text = document.createElement("p");
    text.id = "session-timeout-text";
    text.setAttribute("aria-live", "polite");
    button = document.createElement("button");
    button.type = "button";
    button.textContent = "Fortsätt arbeta";
    button.addEventListener("click", answered);
    dialog.addEventListener("cancel", function (event) {  // Esc: the clinician is here, so keep working
      event.preventDefault();
      answered();
    });
    dialog.append(heading, text, button);
    document.body.append(dialog);
  }

  function say(canExtend) {
    var message = "Du loggas ut " + when(secondsLeft()) + " på grund av inaktivitet.";
    message += canExtend ? " Det du har skrivit men inte skickat försvinner då."
                         : " Sessionen har nått sin längsta tid och kan inte förlängas: skicka det du skriver.";
    if (text.textContent !== message) text.textContent = message;
  }

  function answered() {
    if (extendable) { extend(); return; }
    dismissed = true;  // the absolute limit: said once, then the clinician finishes what they are writing
    close();
  }

  function warn(canExtend) {
    if (!canExtend && dismissed) return;
    if (!dialog) build();
    extendable = canExtend;
    say(canExtend);
    button.textContent = canExtend ? "Fortsätt arbeta" : "Stäng";
    clearInterval(ticker);
    ticker = setInterval(function () { say(canExtend); }, 1000);
    if (!dialog.open) {
      returnTo = document.activeElement;
      dialog.showModal();
    }
    button.focus();
  }

  function close() {
    clearInterval(ticker);
    if (dialog && dialog.open) {
      dialog.close();
      if (returnTo && returnTo.isConnected && returnTo.focus) returnTo.focus();
    }
  }

  function schedule(left) {
    deadline = Date.now() + left * 1000;
    clearTimeout(timer);
    // Ask again at the warning, and once the time is up (another tab may have kept the session alive).
    var warned = dialog && dialog.open;
    var wait = left > WARN_SECONDS ? left - WARN_SECONDS : (warned ? left + 1 : 0);
    timer = setTimeout(check, wait * 1000);
  }

  function ended() {
    close();
    window.location.assign("/");  // the login; no patient data stays on an unattended screen
  }

  function answer(response) {
    if (response.status === 401) { ended(); return null; }
    if (!response.ok) throw new Error("session: HTTP " + response.status);
    return response.json();
  }

  function update(state) {
    if (!state) return;
    deadline = Date.now() + state.seconds_left * 1000;
    if (state.seconds_left > WARN_SECONDS) close();
    else warn(state.can_extend);
    schedule(state.seconds_left);
  }

  function retry() {  // npo did not answer: try again soon, and give up when the time is surely out
    if (secondsLeft() > 0) { clearTimeout(timer); timer = setTimeout(check, 10000); } else ended();
  }

  function check() {
    fetch("/-/session", {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(answer).then(update).catch(retry);
  }

  function extend() {
    var token = document.querySelector("input[name=csrf_token]");
    lastContact = Date.now();
    fetch("/-/session", {method: "POST", credentials: "same-origin",
                         headers: {Accept: "application/json", "X-CSRF-Token": token ? token.value : ""}})
      .then(answer).then(update).catch(retry);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var notice = document.getElementById("bekraftelse");
    if (notice) notice.focus();
    var seconds = Number(document.body.dataset.sessionSeconds);
    if (!document.body.dataset.sessionSeconds || !isFinite(seconds)) return;  // no session: nothing to time
    typingEvery = Math.min(60, seconds / 10) * 1000;
    schedule(seconds);
    document.addEventListener("input", function () {
      if (Date.now() - lastContact >= typingEvery && !(dialog && dialog.open)) extend();
    });
  });
})();
