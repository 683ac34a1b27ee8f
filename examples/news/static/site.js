/* Site behaviour every visitor needs: closing the language suggestion without a reload.
 * Nothing is stored; the suggestion comes back on the next page, like its no-script link.
 */
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var dismiss = event.target.closest ? event.target.closest("[data-language-offer-dismiss]") : null;
    if (!dismiss) {
      return;
    }
    var offer = dismiss.closest("[data-language-offer]");
    if (offer) {
      event.preventDefault();
      offer.hidden = true;
      var main = document.getElementById("main");
      if (main) {
        main.focus();
      }
    }
  });
})();
