// The theme, before the first paint: a classic script in <head> (a module would run after
// the page is shown, flashing the other theme). A signed-in player's theme is the
// account's, which the server writes in <meta name="tema-cuenta">; a guest's is this
// browser's (localStorage). It goes on <html data-tema>, which app.css follows.
// The switch itself lives in common.js.
(function () {
  const TEMAS = ['claro', 'oscuro', 'sistema'];
  const cuenta = document.querySelector('meta[name="tema-cuenta"]');
  let tema = cuenta ? cuenta.content : null;
  if (!cuenta) {
    try {
      tema = localStorage.getItem('juego.tema');
    } catch {
      // Storage refused (private mode, a policy): the device's theme, then.
    }
  }
  if (TEMAS.includes(tema)) document.documentElement.dataset.tema = tema;
})();
