// Shared helpers for every page: the JSON API client, toasts, DOM helpers, the logout
// button and the live unread-notification badge (WebSocket with polling fallback).
//
// Every page loads this module; page modules import it with the same URL, so they share
// this one instance (and its notification state).
//
// User text is always inserted with textContent / createElement, never innerHTML.

const MENSAJES_POR_ESTADO = {
  0: 'No se pudo conectar con el servidor. Comprueba tu conexión e inténtalo de nuevo.',
  400: 'La petición no es válida.',
  401: 'Necesitas iniciar sesión.',
  403: 'No tienes permiso para hacer esto.',
  404: 'No se ha encontrado lo que buscabas.',
  409: 'La operación entra en conflicto con el estado actual.',
  410: 'Este recurso ya no está disponible.',
  413: 'Los datos enviados son demasiado grandes.',
  415: 'Formato de datos no admitido.',
  422: 'Los datos enviados no son válidos.',
  429: 'Demasiados intentos. Espera un momento y vuelve a probar.',
  503: 'El servicio no está disponible ahora mismo. Inténtalo en unos segundos.',
};

/** Error thrown by api() for any non-2xx reply or network failure. */
export class ApiError extends Error {
  constructor(status, code, error, campo = null) {
    super(error);
    this.name = 'ApiError';
    this.status = status; // HTTP status, 0 for a network failure
    this.code = code; // machine code from the server, e.g. "credenciales_invalidas"
    this.error = error; // human (Spanish) message
    this.campo = campo; // the form field at fault, when the server says (e.g. "password")
  }
}

/**
 * Call the JSON API.
 * @param {string} path  e.g. "/api/ranking?limit=5"
 * @param {{method?: string, body?: any, keepalive?: boolean, signal?: AbortSignal}} [options]
 * @returns {Promise<any>} the parsed JSON reply
 * @throws {ApiError} carrying .status, .code and .error on non-2xx replies
 */
export async function api(path, { method = 'GET', body, keepalive = false, signal } = {}) {
  const upper = method.toUpperCase();
  const init = {
    method: upper,
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
    keepalive,
    signal,
  };
  if (body !== undefined || (upper !== 'GET' && upper !== 'HEAD')) {
    // State-changing calls always carry a JSON body (the server requires the content type).
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body === undefined ? {} : body);
  }
  let respuesta;
  try {
    respuesta = await fetch(path, init);
  } catch (causa) {
    if (causa && causa.name === 'AbortError') throw causa;
    throw new ApiError(0, 'red', MENSAJES_POR_ESTADO[0]);
  }
  let datos = null;
  const texto = await respuesta.text().catch(() => '');
  if (texto) {
    try {
      datos = JSON.parse(texto);
    } catch {
      datos = null;
    }
  }
  if (!respuesta.ok) {
    const status = respuesta.status;
    const error =
      (datos && typeof datos.error === 'string' && datos.error) ||
      MENSAJES_POR_ESTADO[status] ||
      (status >= 500 ? 'Error del servidor. Inténtalo de nuevo más tarde.' : `Error ${status}.`);
    const code = (datos && datos.code) || `http_${status}`;
    const campo = (datos && typeof datos.campo === 'string' && datos.campo) || null;
    throw new ApiError(status, code, error, campo);
  }
  return datos === null ? { success: true } : datos;
}

// ---------------------------------------------------------------- DOM helpers

/** Shorthand for document.getElementById. */
export function $(id) {
  return document.getElementById(id);
}

/**
 * Create an element. Text is always set as text.
 * @param {string} tag
 * @param {{clase?: string, texto?: any, attrs?: Object<string, any>}} [props]
 * @param {...(Node|string|number|null|undefined)} hijos
 */
export function el(tag, { clase, texto, attrs } = {}, ...hijos) {
  const nodo = document.createElement(tag);
  if (clase) nodo.className = clase;
  if (texto !== undefined && texto !== null) nodo.textContent = String(texto);
  if (attrs) {
    for (const [nombre, valor] of Object.entries(attrs)) {
      if (valor === false || valor === null || valor === undefined) continue;
      nodo.setAttribute(nombre, valor === true ? '' : String(valor));
    }
  }
  for (const hijo of hijos) {
    if (hijo === null || hijo === undefined || hijo === false) continue;
    nodo.append(hijo instanceof Node ? hijo : document.createTextNode(String(hijo)));
  }
  return nodo;
}

/** Remove every child of a node. */
export function vaciar(nodo) {
  while (nodo && nodo.firstChild) nodo.removeChild(nodo.firstChild);
}

/** The signed-in user as announced by the page, or null. */
export function usuarioActual() {
  const id = document.body && document.body.dataset.userId;
  if (!id) return null;
  return { id: Number(id), esAdmin: document.body.dataset.esAdmin === 'true' };
}

// Control characters (browsers drop tab and newline from URLs, so "/\t/evil.example"
// would become "//evil.example") and backslashes (read as "/" in http URLs).
const CARACTERES_PROHIBIDOS = /[\u0000-\u001f\u007f\\]/;

/**
 * A post-login destination: only a path on this same site (as the browser resolves it),
 * else porDefecto. No other scheme, no "//host", no "/\\host", no control characters.
 */
export function destinoSeguro(destino, porDefecto = '/juego') {
  if (
    typeof destino !== 'string' ||
    !destino.startsWith('/') ||
    destino.startsWith('//') ||
    CARACTERES_PROHIBIDOS.test(destino)
  ) {
    return porDefecto;
  }
  let url;
  try {
    url = new URL(destino, location.origin);
  } catch {
    return porDefecto;
  }
  if (url.origin !== location.origin) return porDefecto;
  return url.pathname + url.search + url.hash;
}

/** Send the player to the login page, coming back here afterwards. */
export function irALogin(volverA = location.pathname + location.search) {
  location.assign(`/login?next=${encodeURIComponent(destinoSeguro(volverA, '/'))}`);
}

export function prefiereMenosMovimiento() {
  return window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
}

// ---------------------------------------------------------------- formatting

const formatoNumero = new Intl.NumberFormat('es-ES', { useGrouping: false });
const formatoDecimal = new Intl.NumberFormat('es-ES', { maximumFractionDigits: 1, useGrouping: false });
const formatoFecha = new Intl.DateTimeFormat('es-ES', { dateStyle: 'medium', timeStyle: 'short' });
const formatoDia = new Intl.DateTimeFormat('es-ES', { dateStyle: 'long' });
const formatoRelativo = new Intl.RelativeTimeFormat('es', { numeric: 'auto' });

/** Integer as plain digits (no grouping, so it reads back as a number); "—" when missing. */
export function numero(valor) {
  if (valor === null || valor === undefined || Number.isNaN(Number(valor))) return '—';
  return formatoNumero.format(Math.round(Number(valor)));
}

/** Number with up to one decimal ("12,5"). */
export function decimal(valor) {
  if (valor === null || valor === undefined || Number.isNaN(Number(valor))) return '—';
  return formatoDecimal.format(Number(valor));
}

/** "1 partida", "2 partidas": the number (as digits) and the word that agrees with it. */
export function plural(n, singular, varios) {
  return `${numero(n)} ${Number(n) === 1 ? singular : varios}`;
}

/** Precision as a percentage; accepts a 0–1 fraction or a 0–100 percentage. */
export function porcentaje(valor) {
  if (valor === null || valor === undefined || Number.isNaN(Number(valor))) return '—';
  const n = Number(valor);
  return `${formatoDecimal.format(n <= 1 ? n * 100 : n)} %`;
}

function aFecha(iso) {
  if (!iso) return null;
  const fecha = new Date(iso);
  return Number.isNaN(fecha.getTime()) ? null : fecha;
}

/** "3 mar 2025, 10:15". */
export function fechaHora(iso) {
  const fecha = aFecha(iso);
  return fecha ? formatoFecha.format(fecha) : '—';
}

/** "3 de marzo de 2025". */
export function fechaLarga(iso) {
  const fecha = aFecha(iso);
  return fecha ? formatoDia.format(fecha) : '—';
}

/** "hace 5 minutos", "ayer"… */
export function haceCuanto(iso) {
  const fecha = aFecha(iso);
  if (!fecha) return '';
  const segundos = Math.round((fecha.getTime() - Date.now()) / 1000);
  const abs = Math.abs(segundos);
  if (abs < 45) return 'ahora mismo';
  if (abs < 3600) return formatoRelativo.format(Math.round(segundos / 60), 'minute');
  if (abs < 86400) return formatoRelativo.format(Math.round(segundos / 3600), 'hour');
  if (abs < 86400 * 30) return formatoRelativo.format(Math.round(segundos / 86400), 'day');
  return formatoDia.format(fecha);
}

/** A <time> element showing a relative time, with the full date as a tooltip. */
export function elementoTiempo(iso, relativo = true) {
  const fecha = aFecha(iso);
  const nodo = el('time', { texto: relativo ? haceCuanto(iso) : fechaHora(iso) });
  if (fecha) {
    nodo.dateTime = fecha.toISOString();
    nodo.title = formatoFecha.format(fecha);
  }
  return nodo;
}

// ---------------------------------------------------------------- toasts

const TIPOS = new Set(['info', 'success', 'warning', 'error']);
const MAX_TOASTS = 4;

/**
 * Show a short message in the corner.
 * @param {string} mensaje  plain text (never interpreted as markup)
 * @param {'info'|'success'|'warning'|'error'} [tipo]
 * @param {{duracion?: number}} [opciones]  milliseconds; 0 keeps it until closed
 */
export function toast(mensaje, tipo = 'info', { duracion } = {}) {
  const contenedor = $('toasts');
  if (!contenedor) return null;
  const clase = TIPOS.has(tipo) ? tipo : 'info';
  const espera = duracion ?? (clase === 'error' ? 9000 : 6000);
  const cerrar = el('button', { clase: 'toast-cerrar', texto: '×', attrs: { type: 'button', 'aria-label': 'Cerrar aviso' } });
  const nodo = el('div', { clase: `toast toast-${clase}` }, el('p', { texto: mensaje }), cerrar);
  let temporizador = null;
  const quitar = () => {
    clearTimeout(temporizador);
    nodo.remove();
  };
  const programar = () => {
    if (espera > 0) temporizador = setTimeout(quitar, espera);
  };
  cerrar.addEventListener('click', quitar);
  nodo.addEventListener('mouseenter', () => clearTimeout(temporizador));
  nodo.addEventListener('mouseleave', programar);
  nodo.addEventListener('focusin', () => clearTimeout(temporizador));
  nodo.addEventListener('focusout', programar);
  contenedor.append(nodo);
  while (contenedor.children.length > MAX_TOASTS) contenedor.firstElementChild.remove();
  programar();
  return nodo;
}

/** Toast an ApiError (or any error) with its Spanish message. */
export function toastError(error, prefijo = '') {
  const texto = (error && (error.error || error.message)) || 'Ha ocurrido un error inesperado.';
  return toast(prefijo ? `${prefijo} ${texto}` : texto, 'error');
}

// ---------------------------------------------------------------- unread badge

const notificaciones = {
  conocidas: new Set(), // ids already seen (so no toast is shown twice)
  noLeidas: 0,
  socket: null,
  intentos: 0,
  temporizadorSocket: null,
  temporizadorSondeo: null,
  detenido: false,
  cargaInicial: null, // the page's first fetch of the list, shared (one request per page)
  alDia: false, // the list was fetched just before this socket: no catch-up when it opens
  silenciadas: [], // filters of notifications the page shows itself (no toast for them)
};

/**
 * The notification list as the page first fetched it: one request per page, shared by
 * this module's badge and a page that lists them (/notificaciones).
 */
export function notificacionesIniciales() {
  if (!notificaciones.cargaInicial) notificaciones.cargaInicial = api('/api/notificaciones');
  return notificaciones.cargaInicial;
}

/** No toast for the notifications `filtro` accepts: the page already says the same. */
export function silenciarNotificaciones(filtro) {
  notificaciones.silenciadas.push(filtro);
}

function avisar(n) {
  if (notificaciones.silenciadas.some((filtro) => filtro(n))) return;
  toast(String(n.message ?? ''), n.type);
}

const INTERVALO_SONDEO = 15000;
const ESPERA_MAXIMA_SOCKET = 30000;

/** Set the unread counter shown in the navigation. */
export function fijarContador(n) {
  const total = Math.max(0, Number(n) || 0);
  notificaciones.noLeidas = total;
  const insignia = $('contador-notificaciones');
  if (insignia) {
    insignia.textContent = String(total);
    insignia.hidden = total === 0;
  }
  const enlace = $('enlace-notificaciones');
  if (enlace) {
    enlace.setAttribute(
      'aria-label',
      total === 0 ? 'Notificaciones' : `Notificaciones, ${total} sin leer`,
    );
  }
  document.dispatchEvent(new CustomEvent('juego:contador', { detail: { noLeidas: total } }));
}

export function contadorNoLeidas() {
  return notificaciones.noLeidas;
}

/** Record notification ids as already seen (no toast for them later). */
export function marcarConocidas(lista) {
  for (const n of lista) notificaciones.conocidas.add(n.id);
}

function recibirNotificacion(n, { conAviso = true } = {}) {
  if (!n || n.id === undefined || notificaciones.conocidas.has(n.id)) return;
  notificaciones.conocidas.add(n.id);
  if (!n.leida) fijarContador(notificaciones.noLeidas + 1);
  if (conAviso) avisar(n);
  document.dispatchEvent(new CustomEvent('juego:notificacion', { detail: n }));
}

/**
 * Fetch the notification list (`inicial`: the page's first fetch, shared); toast the
 * unread ones not seen before.
 */
export async function sondearNotificaciones({ conAviso = true, inicial = false } = {}) {
  try {
    const datos = await (inicial ? notificacionesIniciales() : api('/api/notificaciones'));
    const lista = Array.isArray(datos.notifications) ? datos.notifications : [];
    const nuevas = [];
    for (const n of lista) {
      if (!notificaciones.conocidas.has(n.id)) {
        notificaciones.conocidas.add(n.id);
        if (conAviso && !n.leida) nuevas.push(n);
      }
    }
    fijarContador(lista.filter((n) => !n.leida).length);
    // Oldest first, so the newest toast ends up at the bottom.
    for (const n of nuevas.reverse()) {
      avisar(n);
      document.dispatchEvent(new CustomEvent('juego:notificacion', { detail: n }));
    }
    return lista;
  } catch (error) {
    if (error.status === 401) detenerNotificaciones();
    return null;
  }
}

function iniciarSondeo() {
  if (notificaciones.temporizadorSondeo || notificaciones.detenido) return;
  notificaciones.temporizadorSondeo = setInterval(() => {
    sondearNotificaciones();
  }, INTERVALO_SONDEO);
}

function detenerSondeo() {
  clearInterval(notificaciones.temporizadorSondeo);
  notificaciones.temporizadorSondeo = null;
}

function programarReconexion() {
  if (notificaciones.detenido || notificaciones.temporizadorSocket) return;
  const base = Math.min(ESPERA_MAXIMA_SOCKET, 1000 * 2 ** notificaciones.intentos);
  const espera = Math.round(base * (0.75 + Math.random() * 0.5));
  notificaciones.intentos = Math.min(notificaciones.intentos + 1, 10);
  notificaciones.temporizadorSocket = setTimeout(() => {
    notificaciones.temporizadorSocket = null;
    conectarSocket();
  }, espera);
}

function conectarSocket() {
  if (notificaciones.detenido) return;
  if (!('WebSocket' in window)) {
    iniciarSondeo();
    return;
  }
  const protocolo = location.protocol === 'https:' ? 'wss:' : 'ws:';
  let socket;
  try {
    socket = new WebSocket(`${protocolo}//${location.host}/api/notificaciones/ws`);
  } catch {
    iniciarSondeo();
    programarReconexion();
    return;
  }
  notificaciones.socket = socket;
  let abierto = false;
  socket.addEventListener('open', () => {
    abierto = true;
    notificaciones.intentos = 0;
    detenerSondeo();
    // Catch up with anything that arrived while the socket was down; not when the list
    // was fetched just before this socket was opened (the page's first load).
    if (!notificaciones.alDia) sondearNotificaciones();
    notificaciones.alDia = false;
  });
  socket.addEventListener('message', (evento) => {
    let mensaje;
    try {
      mensaje = JSON.parse(evento.data);
    } catch {
      return;
    }
    if (mensaje && mensaje.event === 'notification' && mensaje.notification) {
      recibirNotificacion(mensaje.notification);
    }
  });
  socket.addEventListener('close', () => {
    if (notificaciones.socket === socket) notificaciones.socket = null;
    notificaciones.alDia = false;
    if (notificaciones.detenido) return;
    if (abierto) sondearNotificaciones();
    iniciarSondeo();
    programarReconexion();
  });
  // An 'error' is always followed by 'close', which does the recovery.
}

function detenerNotificaciones() {
  notificaciones.detenido = true;
  detenerSondeo();
  clearTimeout(notificaciones.temporizadorSocket);
  notificaciones.temporizadorSocket = null;
  if (notificaciones.socket) {
    try {
      notificaciones.socket.close(1000);
    } catch {
      /* already closed */
    }
    notificaciones.socket = null;
  }
}

function iniciarNotificaciones() {
  if (!usuarioActual() || !$('contador-notificaciones')) return;
  sondearNotificaciones({ conAviso: false, inicial: true }).then((lista) => {
    if (lista === null && notificaciones.detenido) return;
    notificaciones.alDia = lista !== null;
    conectarSocket();
  });
  window.addEventListener('pagehide', () => {
    detenerNotificaciones();
  });
  window.addEventListener('pageshow', (evento) => {
    if (evento.persisted) {
      // Restored from the back/forward cache: start again.
      notificaciones.detenido = false;
      notificaciones.intentos = 0;
      sondearNotificaciones().then((lista) => {
        notificaciones.alDia = lista !== null;
        conectarSocket();
      });
    }
  });
}

// ---------------------------------------------------------------- logout

function iniciarSalir() {
  const boton = $('salir');
  if (!boton) return;
  boton.addEventListener('click', async () => {
    boton.disabled = true;
    try {
      await api('/api/logout', { method: 'POST' });
    } catch (error) {
      if (error.status !== 401) {
        boton.disabled = false;
        toastError(error, 'No se pudo cerrar la sesión.');
        return;
      }
    }
    detenerNotificaciones();
    location.assign('/');
  });
}

// ---------------------------------------------------------------- preferences

// The site's theme and the game's language: a guest's in this browser (localStorage), a
// signed-in player's in the account too (POST /api/perfil), which the server puts back
// in the page (<html data-tema>, <body data-idioma>).
const TEMAS = new Set(['claro', 'oscuro', 'sistema']);
const IDIOMAS = new Set(['es', 'en']);

function leerLocal(clave) {
  try {
    return localStorage.getItem(clave);
  } catch {
    return null;
  }
}

function guardarLocal(clave, valor) {
  try {
    localStorage.setItem(clave, valor);
  } catch {
    /* storage refused: remembered for this page only */
  }
}

async function guardarEnCuenta(cambios) {
  if (!usuarioActual()) return;
  try {
    await api('/api/perfil', { method: 'POST', body: cambios });
  } catch (error) {
    if (error.status !== 401) toastError(error, 'No se pudo guardar la preferencia.');
  }
}

/** The theme shown: "claro", "oscuro" or "sistema". */
export function temaActual() {
  const tema = document.documentElement.dataset.tema;
  return TEMAS.has(tema) ? tema : 'sistema';
}

/** Show and remember a theme. */
export function elegirTema(tema) {
  if (!TEMAS.has(tema)) return;
  document.documentElement.dataset.tema = tema;
  guardarLocal('juego.tema', tema);
  guardarEnCuenta({ tema });
}

/** The game's language last chosen ("es", "en"), or null. */
export function idiomaPreferido() {
  const idioma = (document.body && document.body.dataset.idioma) || leerLocal('juego.idioma');
  return IDIOMAS.has(idioma) ? idioma : null;
}

/** Remember the game's language. */
export function recordarIdioma(idioma) {
  if (!IDIOMAS.has(idioma) || idioma === idiomaPreferido()) return;
  if (document.body) document.body.dataset.idioma = idioma;
  guardarLocal('juego.idioma', idioma);
  guardarEnCuenta({ idioma });
}

/** A new account starts with this browser's choices (the guest's theme and language). */
export async function llevarPreferenciasALaCuenta() {
  const cambios = {};
  const tema = leerLocal('juego.tema');
  if (TEMAS.has(tema)) cambios.tema = tema;
  const idioma = leerLocal('juego.idioma');
  if (IDIOMAS.has(idioma)) cambios.idioma = idioma;
  if (Object.keys(cambios).length === 0) return;
  try {
    await api('/api/perfil', { method: 'POST', body: cambios });
  } catch {
    /* the account keeps the defaults, which the player can change */
  }
}

function iniciarPreferencias() {
  const selector = $('selector-tema');
  if (selector) {
    selector.value = temaActual();
    selector.addEventListener('change', () => elegirTema(selector.value));
  }
  // The game's language selector (/juego): set to the last choice, which it remembers.
  const idioma = $('idioma');
  if (idioma instanceof HTMLSelectElement) {
    const preferido = idiomaPreferido();
    if (preferido && [...idioma.options].some((o) => o.value === preferido)) idioma.value = preferido;
    idioma.addEventListener('change', () => recordarIdioma(idioma.value));
  }
}

// ---------------------------------------------------------------- start-up

function iniciar() {
  iniciarPreferencias();
  iniciarSalir();
  iniciarNotificaciones();
}

if (typeof document !== 'undefined') {
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', iniciar, { once: true });
  } else {
    iniciar();
  }
}
