// The game page (/juego): "escritura rápida".
//
// Timing follows the game's rules (/como-funciona, docs/API.md) and uses only the `reglas` the server sends with the
// partida (never local copies of the constants):
//
//   nivel(i)  = 1 + floor(i / palabras_por_nivel)
//   limite(i) = ms_base + len(palabra_i) * max(ms_minimo_por_letra,
//                                              ms_por_letra - paso_nivel * (nivel(i) - 1))
//
// All times are milliseconds since the game started (performance.now() based). Word i is
// shown when word i-1 ended, at t_prev. One event is recorded per word that ended:
//   - typed:  {t: now, ok: true, errores, teclas}, with
//             t_prev + ms_humano_por_letra * len <= t <= deadline
//   - missed: {t: t_prev + limite(i), ok: false, errores, teclas}  (the deadline, not when a
//             timer fired)
// `teclas` are the times (integer ms since the word was shown) of each `input` event while
// it was on screen, non-decreasing, each <= the word's d = t - t_prev: the evidence the
// server checks (a person's rhythm is irregular; a script's is not) and keeps for replays.
// The word on screen when the player stops has no event. The server recomputes the score.

import { showCertification } from './certificacion.js';
import {
  $,
  api,
  decimal,
  el,
  irALogin,
  numero,
  porcentaje,
  prefiereMenosMovimiento,
  vaciar,
} from './common.js';

// How far (ms) the recorded clock may run ahead of the real one before the next word is
// held back. It only matters for inhumanly fast input (autofill, scripts): the server
// accepts a last `t` up to 2,000 ms beyond real time.
const ADELANTO_MAXIMO = 1000;

// The server refuses more input events than this for one word (a held-down key repeats):
// later ones are not recorded.
const MAX_TECLAS_POR_PALABRA = 1000;

const dom = {};
let estado = 'inicio'; // inicio | cargando | jugando | guardando | resultado
let juego = null;

// ---------------------------------------------------------------- rules

/** Number of Unicode code points of the NFC form. */
export function largo(palabra) {
  return [...palabra.normalize('NFC')].length;
}

export function nivelDe(i, reglas) {
  return 1 + Math.floor(i / reglas.palabras_por_nivel);
}

export function limiteDe(i, palabra, reglas) {
  const nivel = nivelDe(i, reglas);
  const porLetra = Math.max(
    reglas.ms_minimo_por_letra,
    reglas.ms_por_letra - reglas.paso_nivel * (nivel - 1),
  );
  return Math.round(reglas.ms_base + largo(palabra) * porLetra);
}

const CLAVES_REGLAS = [
  'ms_base',
  'ms_por_letra',
  'paso_nivel',
  'ms_minimo_por_letra',
  'palabras_por_nivel',
  'ms_humano_por_letra',
];

function partidaValida(partida) {
  if (!partida || partida.id === undefined || partida.id === null) return false;
  if (!Array.isArray(partida.palabras) || partida.palabras.length === 0) return false;
  if (!partida.palabras.every((p) => typeof p === 'string' && p.length > 0)) return false;
  const reglas = partida.reglas;
  if (!reglas || typeof reglas !== 'object') return false;
  if (!CLAVES_REGLAS.every((clave) => Number.isFinite(Number(reglas[clave])))) return false;
  if (Number(reglas.palabras_por_nivel) <= 0) return false;
  if (sinVidas(partida)) return true;
  const vidas = Number(partida.vidas ?? reglas.vidas);
  return Number.isFinite(vidas) && vidas > 0;
}

// ---------------------------------------------------------------- UI helpers

function ponerEstado(nuevo) {
  estado = nuevo;
  dom.juego.dataset.estado = nuevo;
  const jugando = nuevo === 'jugando';
  dom.terminar.hidden = !jugando;
  dom.controlesInicio.hidden = jugando;
  dom.comenzar.disabled = nuevo === 'cargando' || nuevo === 'guardando';
  dom.jugarOtraVez.disabled = nuevo === 'cargando';
  dom.idioma.disabled = nuevo === 'cargando' || nuevo === 'guardando';
  dom.comenzar.textContent = nuevo === 'cargando' ? 'Preparando…' : 'Comenzar';
  dom.entrada.disabled = !jugando;
  pintarModo();
}

function anunciar(texto) {
  dom.anuncio.textContent = texto;
}

function pintarCorazones(vidas, maximo) {
  const llenos = Math.max(0, vidas);
  const vacios = Math.max(0, maximo - llenos);
  dom.corazones.textContent = '♥'.repeat(llenos) + '♡'.repeat(vacios);
}

function actualizarMarcador() {
  if (juego.sinVidas) {
    dom.vidas.textContent = '∞';
    dom.corazones.textContent = '';
  } else {
    dom.vidas.textContent = String(juego.vidas);
    pintarCorazones(juego.vidas, juego.vidasIniciales);
  }
  dom.nivel.textContent = String(juego.nivel);
  dom.puntaje.textContent = String(juego.puntaje);
  dom.numeroPalabra.textContent = String(Math.min(juego.i + 1, juego.palabras.length));
}

/** Show the word with the correctly typed prefix highlighted; its text stays the word. */
function pintarPalabra(valorNFC) {
  const letras = juego.letrasPalabra;
  const tecleadas = [...valorNFC];
  let k = 0;
  while (k < tecleadas.length && k < letras.length && tecleadas[k] === letras[k]) k += 1;
  vaciar(dom.palabra);
  if (k > 0) dom.palabra.append(el('span', { clase: 'hecho', texto: letras.slice(0, k).join('') }));
  if (k < letras.length) dom.palabra.append(el('span', { clase: 'resto', texto: letras.slice(k).join('') }));
}

function marcarError(hayError) {
  dom.entrada.classList.toggle('con-error', hayError);
  dom.palabra.classList.toggle('con-error', hayError);
  dom.entrada.setAttribute('aria-invalid', hayError ? 'true' : 'false');
}

function sacudir() {
  if (prefiereMenosMovimiento()) return;
  dom.tablero.classList.remove('sacudida');
  void dom.tablero.offsetWidth; // restart the animation
  dom.tablero.classList.add('sacudida');
}

function animarPalabra() {
  if (prefiereMenosMovimiento()) return;
  dom.palabra.classList.remove('entra');
  void dom.palabra.offsetWidth;
  dom.palabra.classList.add('entra');
}

function limpiarEntrada() {
  if (juego && juego.componiendo) {
    // Changing the value mid-composition confuses some IMEs: clear it once it ends.
    juego.limpiarAlComponer = true;
  } else {
    dom.entrada.value = '';
  }
  marcarError(false);
}

// ---------------------------------------------------------------- game flow

async function comenzar() {
  if (estado === 'cargando' || estado === 'jugando' || estado === 'guardando') return;
  ponerEstado('cargando');
  dom.error.textContent = '';
  dom.resultado.hidden = true;
  try {
    const datos = await api('/api/partidas', { method: 'POST', body: cuerpoPartida() });
    if (!partidaValida(datos.partida)) throw new Error('La partida recibida no es válida. Inténtalo de nuevo.');
    empezar(datos.partida);
  } catch (error) {
    if (error.status === 401 && modoElegido() !== 'diario') {
      irALogin('/juego');
      return;
    }
    if (error.code === 'ya_jugado') marcarDiarioJugado(dom.idioma.value || 'es');
    ponerEstado('inicio');
    dom.error.textContent = error.error || error.message || 'No se pudo empezar la partida.';
    dom.comenzar.focus();
  }
}

function empezar(partida) {
  const reglas = {};
  for (const clave of CLAVES_REGLAS) reglas[clave] = Number(partida.reglas[clave]);
  const vidas = sinVidas(partida) ? Infinity : Number(partida.vidas ?? partida.reglas.vidas);
  juego = {
    partida,
    sinVidas: sinVidas(partida),
    reglas,
    palabras: partida.palabras.map((p) => p.normalize('NFC')),
    vidasIniciales: vidas,
    vidas,
    puntaje: 0,
    eventos: [],
    aciertos: 0,
    fallos: 0,
    erroresTotales: 0,
    tPrev: 0,
    i: 0,
    palabra: null,
    palabraNFD: '',
    letrasPalabra: [],
    letras: 0,
    nivel: 1,
    limite: 0,
    limiteT: 0,
    errores: 0,
    teclas: [],
    eraPrefijo: true,
    inicio: 0,
    temporizador: null,
    temporizadorRetencion: null,
    raf: null,
    componiendo: false,
    limpiarAlComponer: false,
    ultimaFraccion: -1,
    ultimoTexto: '',
    motivo: null,
    guardado: false,
  };
  dom.totalPalabras.textContent = String(juego.palabras.length);
  dom.palabra.lang = partida.idioma || dom.idioma.value || 'es';
  dom.siguiente.lang = dom.palabra.lang;
  dom.entrada.value = '';
  dom.avisoMayus.hidden = true;
  ponerEstado('jugando');
  dom.entrada.focus();
  juego.inicio = performance.now();
  mostrarPalabra(0);
  juego.raf = requestAnimationFrame(dibujar);
}

function mostrarPalabra(i) {
  const j = juego;
  if (i >= j.palabras.length) {
    terminar('completada');
    return;
  }
  const nivelAnterior = j.nivel;
  j.i = i;
  j.palabra = j.palabras[i];
  j.palabraNFD = j.palabra.normalize('NFD');
  j.letrasPalabra = [...j.palabra];
  j.letras = j.letrasPalabra.length;
  j.nivel = nivelDe(i, j.reglas);
  j.limite = limiteDe(i, j.palabra, j.reglas);
  j.limiteT = j.tPrev + j.limite;
  j.errores = 0;
  j.teclas = [];
  j.eraPrefijo = true;
  j.ultimaFraccion = -1;
  limpiarEntrada();
  pintarPalabra('');
  animarPalabra();
  const siguiente = j.palabras[i + 1];
  dom.siguiente.textContent = siguiente ? `Siguiente: ${siguiente}` : 'Última palabra';
  actualizarMarcador();
  if (j.nivel !== nivelAnterior) {
    anunciar(`Nivel ${j.nivel}. ${j.palabra}`);
    if (!prefiereMenosMovimiento()) {
      dom.nivel.classList.remove('sube');
      void dom.nivel.offsetWidth;
      dom.nivel.classList.add('sube');
    }
  } else {
    anunciar(j.palabra);
  }
  programarLimite();
}

function programarLimite() {
  const j = juego;
  clearTimeout(j.temporizador);
  const espera = j.inicio + j.limiteT - performance.now();
  j.temporizador = setTimeout(alVencer, Math.max(0, espera) + 4);
}

function alVencer() {
  if (estado !== 'jugando' || !juego || juego.palabra === null) return;
  if (!ponerAlDia(performance.now())) programarLimite();
}

/**
 * Record every deadline that has passed by `ahora` (timers may fire late, e.g. in a
 * background tab). Returns true if at least one word was missed.
 */
function ponerAlDia(ahora) {
  let huboFallo = false;
  while (estado === 'jugando' && juego.palabra !== null && ahora - juego.inicio > juego.limiteT) {
    fallar();
    huboFallo = true;
  }
  return huboFallo;
}

/** Record an `input` event at `ahora` for the word on screen (ms since it was shown). */
function registrarTecla(ahora) {
  const j = juego;
  if (j.teclas.length >= MAX_TECLAS_POR_PALABRA) return;
  const previa = j.teclas.length > 0 ? j.teclas[j.teclas.length - 1] : 0;
  // A word held back (see ADELANTO_MAXIMO) is shown before its recorded start: clamp at 0.
  j.teclas.push(Math.max(previa, Math.round(ahora - j.inicio) - j.tPrev, 0));
}

/** The word's keystrokes for its event, none later than its end (`d` ms after it showed). */
function teclasHasta(d) {
  return juego.teclas.map((tecla) => Math.min(tecla, d));
}

function fallar() {
  const j = juego;
  const t = j.limiteT; // exactly t_prev + limite(i)
  j.eventos.push({ t, ok: false, errores: j.errores, teclas: teclasHasta(t - j.tPrev) });
  j.erroresTotales += j.errores;
  j.tPrev = t;
  j.vidas -= 1;
  j.fallos += 1;
  sacudir();
  if (j.vidas <= 0) {
    actualizarMarcador();
    terminar('sin-vidas');
    return;
  }
  anunciar(j.sinVidas ? 'Tiempo agotado.' : `Tiempo agotado. Te quedan ${j.vidas} vidas.`);
  mostrarPalabra(j.i + 1);
}

function acertar(ahora) {
  const j = juego;
  const transcurrido = ahora - j.inicio;
  let t = Math.min(Math.round(transcurrido), j.limiteT);
  const minimo = j.tPrev + Math.ceil(j.reglas.ms_humano_por_letra * j.letras);
  if (t < minimo) t = minimo; // never claim faster than a human can type
  const teclas = teclasHasta(t - j.tPrev);
  if (teclas.length === 0) teclas.push(t - j.tPrev); // completed without an input event
  j.eventos.push({ t, ok: true, errores: j.errores, teclas });
  j.erroresTotales += j.errores;
  j.tPrev = t;
  j.puntaje += j.letras * j.nivel;
  j.aciertos += 1;
  dom.puntaje.textContent = String(j.puntaje);

  const adelanto = t - transcurrido;
  if (adelanto > ADELANTO_MAXIMO && j.i + 1 < j.palabras.length) {
    // Input far faster than any person: hold the next word until the clock catches up.
    j.palabra = null;
    clearTimeout(j.temporizador);
    limpiarEntrada();
    const siguiente = j.i + 1;
    j.temporizadorRetencion = setTimeout(() => {
      j.temporizadorRetencion = null;
      if (estado === 'jugando' && juego === j) mostrarPalabra(siguiente);
    }, Math.ceil(adelanto - ADELANTO_MAXIMO));
    return;
  }
  mostrarPalabra(j.i + 1);
}

/**
 * Check the input: called on every `input` event (`esInput`, recorded as a keystroke) and
 * when a composition ends.
 */
function evaluar(ahora, esInput = false) {
  const j = juego;
  if (estado !== 'jugando' || !j || j.palabra === null) return;
  if (ponerAlDia(ahora)) return; // the deadline passed first: that word is already missed
  if (esInput) registrarTecla(ahora);
  const bruto = dom.entrada.value;
  const valor = bruto.normalize('NFC');
  if (valor === j.palabra) {
    acertar(ahora);
    return;
  }
  // Prefix check on the decomposed forms, so "cafe" + combining accent is still on track.
  const esPrefijo = j.palabraNFD.startsWith(bruto.normalize('NFD'));
  if (!j.componiendo) {
    if (!esPrefijo && j.eraPrefijo) {
      j.errores += 1;
      sacudir();
    }
    j.eraPrefijo = esPrefijo;
    marcarError(!esPrefijo);
  }
  pintarPalabra(valor);
}

function detenerTemporizadores() {
  if (!juego) return;
  clearTimeout(juego.temporizador);
  clearTimeout(juego.temporizadorRetencion);
  cancelAnimationFrame(juego.raf);
  juego.temporizador = null;
  juego.temporizadorRetencion = null;
  juego.raf = null;
}

/** End the game: 'sin-vidas', 'completada' or 'parada' (player stopped). */
function terminar(motivo) {
  if (estado !== 'jugando') return;
  const j = juego;
  if (motivo === 'parada') {
    // A deadline that already passed still counts as a miss (and may have ended the game).
    ponerAlDia(performance.now());
    if (estado !== 'jugando') return;
  }
  detenerTemporizadores();
  j.motivo = motivo;
  j.palabra = null;
  ponerEstado('guardando');
  dom.entrada.value = '';
  marcarError(false);
  vaciar(dom.palabra);
  dom.siguiente.textContent = '';
  dom.tiempoRestante.textContent = '';
  dom.barra.classList.remove('urgente');
  actualizarMarcador();
  anunciar(
    motivo === 'sin-vidas'
      ? 'Sin vidas. Fin de la partida.'
      : motivo === 'completada'
        ? '¡Has completado todas las palabras!'
        : 'Partida terminada.',
  );
  guardar();
}

async function guardar() {
  const j = juego;
  dom.guardando.hidden = false;
  dom.reintentar.hidden = true;
  dom.reintentar.disabled = true;
  try {
    const respuesta = await api('/api/guardar_puntaje', {
      method: 'POST',
      body: { partida_id: j.partida.id, eventos: j.eventos },
    });
    j.guardado = true;
    mostrarResultado(respuesta);
  } catch (error) {
    if (error.status === 401) {
      irALogin('/juego');
      return;
    }
    mostrarFallo(error);
  } finally {
    dom.guardando.hidden = true;
    dom.reintentar.disabled = false;
  }
}

function tituloFinal(motivo) {
  if (motivo === 'sin-vidas') return '¡Sin vidas! Fin de la partida';
  if (motivo === 'completada') return '¡Has completado todas las palabras!';
  return 'Partida terminada';
}

function detalle(nombre, valor) {
  return el('div', {}, el('dt', { texto: nombre }), el('dd', { texto: valor }));
}

function pintarDetalles(respuesta) {
  const j = juego;
  vaciar(dom.detalles);
  if (respuesta && respuesta.puntaje_maximo !== undefined && respuesta.puntaje_maximo !== null) {
    dom.detalles.append(detalle('Tu récord', numero(respuesta.puntaje_maximo)));
  }
  if (respuesta && respuesta.wpm !== undefined && respuesta.wpm !== null) {
    dom.detalles.append(detalle('Palabras por minuto', decimal(respuesta.wpm)));
  }
  if (respuesta && respuesta.precision !== undefined && respuesta.precision !== null) {
    dom.detalles.append(detalle('Precisión', porcentaje(respuesta.precision)));
  }
  dom.detalles.append(detalle('Palabras acertadas', numero(j.aciertos)));
  dom.detalles.append(detalle('Palabras falladas', numero(j.fallos)));
  dom.detalles.append(detalle('Nivel alcanzado', numero(j.nivel)));
  dom.detalles.append(detalle('Teclas erróneas', numero(j.erroresTotales)));
}

function mostrarPanelResultado() {
  ponerEstado('resultado');
  dom.resultado.hidden = false;
  dom.resultado.focus();
  if (!prefiereMenosMovimiento()) dom.resultado.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
}

function mostrarResultado(respuesta) {
  const j = juego;
  const pendiente = respuesta.pendiente === true;
  let puntaje = respuesta.puntaje;
  if ((puntaje === undefined || puntaje === null) && pendiente) puntaje = j.puntaje;
  dom.resultadoTitulo.textContent = tituloFinal(j.motivo);
  dom.lineaPuntaje.hidden = puntaje === undefined || puntaje === null;
  dom.resultadoPuntaje.textContent = dom.lineaPuntaje.hidden ? '' : String(puntaje);
  dom.record.hidden = respuesta.nuevo_record !== true;
  dom.pendiente.hidden = !pendiente;
  dom.mensaje.textContent = typeof respuesta.message === 'string' ? respuesta.message : '';
  dom.resultadoError.textContent = '';
  dom.reintentar.hidden = true;
  pintarDetalles(respuesta);
  mostrarAvisoInvitado(respuesta);
  if (j.partida.modo === 'diario') marcarDiarioJugado(j.partida.idioma);
  mostrarPanelResultado();
  dom.juego.dataset.resultado = respuesta.en_revision === true ? 'en-revision' : 'publicado';
  if (respuesta.en_revision === true && respuesta.motivo === 'certificacion') {
    const panel = document.getElementById('certificacion');
    if (panel) showCertification(panel, respuesta);
  }
}

function mostrarFallo(error) {
  // Network trouble or a server hiccup: the partida is still open, so offer a retry.
  const reintentable = !error.status || error.status >= 500 || error.status === 429;
  dom.resultadoTitulo.textContent = 'No se pudo guardar la partida';
  dom.lineaPuntaje.hidden = true;
  dom.resultadoPuntaje.textContent = '';
  dom.record.hidden = true;
  dom.pendiente.hidden = true;
  dom.mensaje.textContent = '';
  dom.resultadoError.textContent = error.error || error.message || 'Error desconocido.';
  dom.reintentar.hidden = !reintentable;
  pintarDetalles(null);
  mostrarPanelResultado();
  if (reintentable) dom.reintentar.focus();
}

// ---------------------------------------------------------------- modes and guests
//
// Modes: normal, diario (the daily challenge: the same words for everybody that UTC day,
// one attempt per day and language) and practica (no lives, never ranked). A guest plays
// without an account; its result is kept for the account it signs up or logs in to.

const desafio = { jugado: new Set(), siguiente: null, temporizador: null };

/** A practice game has no lives: a missed word never ends it. */
function sinVidas(partida) {
  return partida.modo === 'practica' && (partida.vidas === null || partida.vidas === undefined);
}

function modoElegido() {
  const marcado = document.querySelector('input[name="modo"]:checked');
  return marcado ? marcado.value : 'normal';
}

function cuerpoPartida() {
  return { idioma: dom.idioma.value || 'es', modo: modoElegido() };
}

function esInvitado() {
  return dom.juego.dataset.invitado === 'si';
}

function marcarDiarioJugado(idioma) {
  desafio.jugado.add(idioma);
  pintarModo();
}

/** The daily challenge's state beside the mode choice: its countdown, and "ya jugado". */
function pintarModo() {
  if (!dom.desafioEstado) return;
  const diario = modoElegido() === 'diario';
  const jugado = diario && desafio.jugado.has(dom.idioma.value || 'es');
  dom.desafioEstado.hidden = !diario;
  dom.desafioJugado.hidden = !jugado;
  dom.juego.dataset.modo = modoElegido();
  dom.juego.dataset.diarioJugado = jugado ? 'si' : 'no';
  if (estado === 'inicio' || estado === 'resultado') {
    dom.comenzar.disabled = jugado || (diario && esInvitado());
    dom.jugarOtraVez.disabled = dom.comenzar.disabled;
  }
}

function dosCifras(n) {
  return String(n).padStart(2, '0');
}

function pintarCuentaAtras() {
  if (!desafio.siguiente) return;
  const quedan = Math.max(0, desafio.siguiente - Date.now());
  const s = Math.floor(quedan / 1000);
  dom.cuentaAtras.textContent = `${dosCifras(Math.floor(s / 3600))}:${dosCifras(Math.floor(s / 60) % 60)}:${dosCifras(s % 60)}`;
  if (quedan === 0) {
    // A new day: a new challenge, nobody has played it yet.
    clearInterval(desafio.temporizador);
    cargarDesafio();
  }
}

async function cargarDesafio() {
  try {
    const datos = await api('/api/desafio');
    desafio.jugado = new Set(datos.jugado || []);
    desafio.siguiente = Date.parse(datos.siguiente);
  } catch {
    return; // the countdown stays blank; the server still says "ya_jugado" if so
  }
  pintarModo();
  pintarCuentaAtras();
  clearInterval(desafio.temporizador);
  desafio.temporizador = setInterval(pintarCuentaAtras, 1000);
}

function mostrarAvisoInvitado(respuesta) {
  // Only a result there is to keep: not a practice game, not a discarded one.
  dom.avisoResultadoInvitado.hidden =
    respuesta.invitado !== true || respuesta.practica === true || respuesta.descartada === true;
}

function iniciarModos() {
  dom.desafioEstado = $('desafio-estado');
  dom.desafioJugado = $('desafio-jugado');
  dom.cuentaAtras = $('desafio-cuenta-atras');
  dom.avisoResultadoInvitado = $('resultado-invitado');
  for (const opcion of document.querySelectorAll('input[name="modo"]')) {
    opcion.addEventListener('change', pintarModo);
  }
  dom.idioma.addEventListener('change', pintarModo);
  cargarDesafio();
}

// ---------------------------------------------------------------- time bar

function dibujar() {
  const j = juego;
  if (estado !== 'jugando' || !j) return;
  const ahora = performance.now();
  ponerAlDia(ahora);
  if (estado !== 'jugando') return;
  if (j.palabra !== null) {
    const quedaMs = j.limiteT - (ahora - j.inicio);
    let fraccion = Math.min(1, Math.max(0, quedaMs / j.limite));
    if (prefiereMenosMovimiento()) fraccion = Math.ceil(fraccion * 10) / 10;
    else fraccion = Math.round(fraccion * 1000) / 1000;
    if (fraccion !== j.ultimaFraccion) {
      j.ultimaFraccion = fraccion;
      dom.relleno.style.setProperty('--restante', String(fraccion));
      dom.barra.classList.toggle('urgente', fraccion <= 0.25);
    }
    const texto = `${decimal(Math.max(0, Math.min(quedaMs, j.limite)) / 1000)} s`;
    if (texto !== j.ultimoTexto) {
      j.ultimoTexto = texto;
      dom.tiempoRestante.textContent = texto;
    }
  }
  j.raf = requestAnimationFrame(dibujar);
}

// ---------------------------------------------------------------- leaving mid-game

function alSalirDeLaPagina() {
  if (estado !== 'jugando' || !juego) return;
  // Leaving counts as stopping: hand over what was played, without waiting for a reply.
  ponerAlDia(performance.now());
  if (estado !== 'jugando') return; // terminar() already sent it
  detenerTemporizadores();
  estado = 'inicio';
  api('/api/guardar_puntaje', {
    method: 'POST',
    body: { partida_id: juego.partida.id, eventos: juego.eventos },
    keepalive: true,
  }).catch(() => {});
  juego.palabra = null;
  ponerEstado('inicio');
  vaciar(dom.palabra);
}

// ---------------------------------------------------------------- wiring

function iniciar() {
  const ids = {
    juego: 'juego',
    tablero: 'tablero',
    palabra: 'palabra-actual',
    entrada: 'entrada',
    vidas: 'vidas',
    corazones: 'corazones',
    nivel: 'nivel',
    puntaje: 'puntaje',
    numeroPalabra: 'numero-palabra',
    totalPalabras: 'total-palabras',
    barra: 'barra-tiempo',
    relleno: 'barra-tiempo-relleno',
    tiempoRestante: 'tiempo-restante',
    siguiente: 'siguiente',
    avisoMayus: 'aviso-mayus',
    controlesInicio: 'controles-inicio',
    idioma: 'idioma',
    comenzar: 'comenzar',
    terminar: 'terminar',
    error: 'juego-error',
    anuncio: 'anuncio',
    guardando: 'guardando',
    resultado: 'resultado',
    resultadoTitulo: 'resultado-titulo',
    lineaPuntaje: 'resultado-linea-puntaje',
    resultadoPuntaje: 'resultado-puntaje',
    record: 'resultado-record',
    pendiente: 'resultado-pendiente',
    detalles: 'resultado-detalles',
    mensaje: 'resultado-mensaje',
    resultadoError: 'resultado-error',
    reintentar: 'reintentar-guardado',
    jugarOtraVez: 'jugar-otra-vez',
  };
  for (const [clave, id] of Object.entries(ids)) {
    dom[clave] = $(id);
    if (!dom[clave]) return; // not the game page
  }

  dom.comenzar.addEventListener('click', comenzar);
  dom.jugarOtraVez.addEventListener('click', comenzar);
  dom.terminar.addEventListener('click', () => terminar('parada'));
  dom.reintentar.addEventListener('click', () => {
    if (juego && !juego.guardado && estado === 'resultado') {
      ponerEstado('guardando');
      guardar();
    }
  });

  dom.entrada.addEventListener('input', () => evaluar(performance.now(), true));
  dom.entrada.addEventListener('compositionstart', () => {
    if (juego) juego.componiendo = true;
  });
  dom.entrada.addEventListener('compositionend', () => {
    if (!juego) return;
    juego.componiendo = false;
    if (juego.limpiarAlComponer) {
      juego.limpiarAlComponer = false;
      dom.entrada.value = '';
    }
    evaluar(performance.now());
  });
  dom.entrada.addEventListener('keydown', (evento) => {
    if (evento.getModifierState) dom.avisoMayus.hidden = !evento.getModifierState('CapsLock');
    if (estado !== 'jugando' || !juego) return;
    // Words have no spaces and nothing is submitted: swallow Space and Enter.
    if ((evento.key === ' ' && juego.palabra && !juego.palabra.includes(' ')) || evento.key === 'Enter') {
      evento.preventDefault();
    }
  });
  dom.entrada.addEventListener('keyup', (evento) => {
    if (evento.getModifierState) dom.avisoMayus.hidden = !evento.getModifierState('CapsLock');
  });

  // Clicking anywhere on the board keeps the focus in the input while playing.
  dom.tablero.addEventListener('click', (evento) => {
    if (estado === 'jugando' && evento.target !== dom.terminar && !dom.terminar.contains(evento.target)) {
      dom.entrada.focus();
    }
  });

  document.addEventListener('keydown', (evento) => {
    if (evento.key === 'Escape' && estado === 'jugando') {
      evento.preventDefault();
      terminar('parada');
      return;
    }
    if (evento.key === 'Enter' && estado === 'resultado' && !evento.repeat) {
      const activo = document.activeElement;
      const neutro = !activo || activo === document.body || activo === dom.resultado || activo === dom.juego;
      if (neutro) {
        evento.preventDefault();
        comenzar();
      }
    }
  });

  document.addEventListener('visibilitychange', () => {
    if (estado === 'jugando' && juego && juego.palabra !== null && document.visibilityState === 'visible') {
      if (!ponerAlDia(performance.now())) programarLimite();
    }
  });
  window.addEventListener('pagehide', alSalirDeLaPagina);

  iniciarModos();
  ponerEstado('inicio');
  dom.comenzar.focus({ preventScroll: true });
}

if (typeof document !== 'undefined') iniciar();
