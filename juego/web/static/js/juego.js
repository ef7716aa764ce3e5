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
  plural,
  porcentaje,
  prefiereMenosMovimiento,
  silenciarNotificaciones,
  vaciar,
} from './common.js';
import { pintarTiempos } from './tiempos.js';

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
  dom.comenzar.disabled = nuevo === 'cargando' || nuevo === 'guardando';
  dom.jugarOtraVez.disabled = nuevo === 'cargando';
  dom.idioma.disabled = nuevo === 'cargando' || nuevo === 'guardando';
  dom.comenzar.textContent = nuevo === 'cargando' ? 'Preparando…' : 'Comenzar';
  dom.entrada.disabled = !jugando;
  // One way to play again from the result: its own button (and Enter), not the start panel.
  dom.controlesInicio.hidden = jugando || nuevo === 'guardando' || nuevo === 'resultado';
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

// ---------------------------------------------------------------- per-letter marks
//
// #palabra-actual holds one span per letter of the word (its text stays exactly the word)
// and an empty caret span before the next letter to type. Each typed position is marked:
//   'bien'      the letter typed is the word's letter;
//   'pendiente' the last letter typed is the start of the word's letter (an "e" before
//               its combining accent makes "é"): not wrong yet;
//   'mal'       anything else, including letters typed past the end of the word.

/** The marks of the letters typed (`tecleadas`, NFC code points) against the word's. */
export function marcasDe(tecleadas, letras) {
  return tecleadas.map((letra, k) => {
    if (k < letras.length && letra === letras[k]) return 'bien';
    const ultima = k === tecleadas.length - 1;
    if (ultima && k < letras.length && letras[k].normalize('NFD').startsWith(letra.normalize('NFD'))) {
      return 'pendiente';
    }
    return 'mal';
  });
}

/**
 * Wrong keys between two states of the input: every position that is wrong now and was
 * not wrong with the same letter before (a letter typed wrong, a pending letter that
 * turned out wrong). Deleting never counts; a wrong letter typed again after deleting it
 * counts again: each wrong key counts once.
 */
export function erroresNuevos(antes, ahora) {
  let errores = 0;
  ahora.marcas.forEach((marca, k) => {
    if (marca !== 'mal') return;
    if (antes.marcas[k] === 'mal' && antes.letras[k] === ahora.letras[k]) return;
    errores += 1;
  });
  return errores;
}

/** One span per letter of the word on screen, and the caret. */
function prepararPalabra() {
  vaciar(dom.palabra);
  juego.spans = juego.letrasPalabra.map((letra) => el('span', { clase: 'letra', texto: letra }));
  juego.cursor = el('span', { clase: 'cursor', attrs: { 'aria-hidden': 'true' } });
  dom.palabra.append(juego.cursor, ...juego.spans);
}

/** Mark each letter of the word against what is typed, and move the caret after it. */
function pintarPalabra(marcas) {
  const spans = juego.spans;
  spans.forEach((span, k) => {
    const marca = k < marcas.length ? marcas[k] : 'falta';
    if (span.dataset.marca !== marca) {
      span.dataset.marca = marca;
      span.className = `letra ${marca}`;
    }
  });
  const posicion = Math.min(marcas.length, spans.length);
  const destino = posicion < spans.length ? spans[posicion] : null;
  if (juego.cursor.nextSibling !== destino) dom.palabra.insertBefore(juego.cursor, destino);
  // Letters typed past the end of the word: the caret says so.
  juego.cursor.classList.toggle('sobra', marcas.length > spans.length);
}

function marcarError(hayError) {
  dom.entrada.classList.toggle('con-error', hayError);
  dom.palabra.classList.toggle('con-error', hayError);
  dom.entrada.setAttribute('aria-invalid', hayError ? 'true' : 'false');
}

// ---------------------------------------------------------------- live speed and accuracy

/** Words per minute as the server counts them: letters of the words typed / 5 per minute. */
export function ppmDe(letras, ms) {
  return ms > 0 ? letras / 5 / (ms / 60000) : 0;
}

/** Share of keys that were right: letters typed right / (those + wrong keys). */
export function precisionDe(bien, errores) {
  return bien + errores > 0 ? bien / (bien + errores) : null;
}

function actualizarEnVivo(ahora) {
  const j = juego;
  const ms = ahora - j.inicio;
  dom.ppmVivo.textContent = j.aciertos > 0 ? numero(ppmDe(j.letrasAcertadas, ms)) : '—';
  const bienActual = j.tecleo.marcas.filter((m) => m === 'bien').length;
  const precision = precisionDe(j.letrasAcertadas + bienActual, j.erroresTotales + j.errores);
  dom.precisionViva.textContent = precision === null ? '—' : porcentaje(precision);
  j.ultimoEnVivo = ahora;
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
  if (juego) juego.tecleo = { letras: [], marcas: [] };
  marcarError(false);
}

// ---------------------------------------------------------------- game flow

async function comenzar() {
  if (estado === 'cargando' || estado === 'jugando' || estado === 'guardando') return;
  ponerEstado('cargando');
  dom.error.textContent = '';
  dom.resultado.hidden = true;
  dom.compartirEstado.textContent = '';
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
    letrasAcertadas: 0,
    historial: [], // one {palabra, ms, limite, ok, errores} per ended word, for the result
    tecleo: { letras: [], marcas: [] }, // what the input holds, marked letter by letter
    spans: [],
    cursor: null,
    ultimoEnVivo: 0,
    tPrev: 0,
    i: 0,
    palabra: null,
    letrasPalabra: [],
    letras: 0,
    nivel: 1,
    limite: 0,
    limiteT: 0,
    errores: 0,
    teclas: [],
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
  dom.ppmVivo.textContent = '—';
  dom.precisionViva.textContent = '—';
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
  j.letrasPalabra = [...j.palabra];
  j.letras = j.letrasPalabra.length;
  j.nivel = nivelDe(i, j.reglas);
  j.limite = limiteDe(i, j.palabra, j.reglas);
  j.limiteT = j.tPrev + j.limite;
  j.errores = 0;
  j.teclas = [];
  j.ultimaFraccion = -1;
  limpiarEntrada();
  prepararPalabra();
  pintarPalabra([]);
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

/** Keep the word that just ended (`ms` on screen) for the result's chart. */
function anotar(ms, ok) {
  const j = juego;
  j.historial.push({ palabra: j.palabra, ms, limite: j.limite, ok, errores: j.errores });
}

function fallar() {
  const j = juego;
  const t = j.limiteT; // exactly t_prev + limite(i)
  j.eventos.push({ t, ok: false, errores: j.errores, teclas: teclasHasta(t - j.tPrev) });
  anotar(t - j.tPrev, false);
  j.erroresTotales += j.errores;
  j.errores = 0;
  j.tPrev = t;
  j.vidas -= 1;
  j.fallos += 1;
  sacudir();
  if (j.vidas <= 0) {
    actualizarMarcador();
    terminar('sin-vidas');
    return;
  }
  anunciar(j.sinVidas ? 'Tiempo agotado.' : `Tiempo agotado. Te ${j.vidas === 1 ? 'queda 1 vida' : `quedan ${j.vidas} vidas`}.`);
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
  anotar(t - j.tPrev, true);
  j.erroresTotales += j.errores;
  j.errores = 0;
  j.tPrev = t;
  j.puntaje += j.letras * j.nivel;
  j.aciertos += 1;
  j.letrasAcertadas += j.letras;
  j.tecleo = { letras: [], marcas: [] };
  dom.puntaje.textContent = String(j.puntaje);
  actualizarEnVivo(ahora);

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
  const letras = [...valor];
  const ahoraTecleo = { letras, marcas: marcasDe(letras, j.letrasPalabra) };
  if (!j.componiendo) {
    // Mid-composition the input holds a half-typed letter: judged when it is done.
    const nuevos = erroresNuevos(j.tecleo, ahoraTecleo);
    if (nuevos > 0) {
      j.errores += nuevos;
      sacudir();
    }
    j.tecleo = ahoraTecleo;
    marcarError(ahoraTecleo.marcas.includes('mal'));
    actualizarEnVivo(ahora);
  }
  pintarPalabra(ahoraTecleo.marcas);
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
  // The word on screen has no event, but its wrong keys were pressed: the result counts them.
  if (j.palabra !== null) j.erroresTotales += j.errores;
  j.errores = 0;
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
  // The record is the player's best over every ranked game: beside a daily result it
  // would read as the daily's own record, which it is not.
  const esDiario = j && j.partida && j.partida.modo === 'diario';
  if (!esDiario && respuesta && respuesta.puntaje_maximo !== undefined && respuesta.puntaje_maximo !== null) {
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
  const errores = detalle('Teclas erróneas', numero(j.erroresTotales));
  errores.id = 'resultado-errores';
  dom.detalles.append(errores);
}

/** The per-word times: the chart, its table and the slowest words. */
function pintarPalabrasJugadas() {
  const historial = juego ? juego.historial : [];
  dom.tiempos.hidden = historial.length === 0;
  if (historial.length === 0) return;
  pintarTiempos(
    { lienzo: dom.graficoTiempos, tabla: dom.tablaTiempos, lentas: dom.lentas },
    historial,
    juego.partida.idioma || dom.idioma.value || 'es',
  );
}

/** The address of a result's page, when anybody may see it (published, not held). */
function urlCompartible(respuesta) {
  const publico =
    juego &&
    juego.partida &&
    respuesta &&
    respuesta.en_revision !== true &&
    respuesta.descartada !== true &&
    respuesta.invitado !== true &&
    respuesta.practica !== true && // a practice game has no page: it counts nowhere
    typeof respuesta.puntaje === 'number';
  return publico ? new URL(`/resultado/${encodeURIComponent(juego.partida.id)}`, location.origin).href : null;
}

function prepararCompartir(respuesta) {
  const url = urlCompartible(respuesta);
  dom.compartir.hidden = url === null;
  dom.compartir.dataset.url = url || '';
  dom.compartirEstado.textContent = '';
}

async function compartir() {
  const url = dom.compartir.dataset.url;
  if (!url) return;
  const titulo = `${plural(Number(dom.resultadoPuntaje.textContent), 'punto', 'puntos')} en Escritura rápida`;
  if (navigator.share) {
    try {
      await navigator.share({ title: titulo, url });
      return;
    } catch (error) {
      if (error && error.name === 'AbortError') return;
    }
  }
  try {
    await navigator.clipboard.writeText(url);
    dom.compartirEstado.textContent = 'Enlace copiado: pégalo donde quieras compartirlo.';
  } catch {
    dom.compartirEstado.replaceChildren('Copia este enlace: ', el('a', { texto: url, attrs: { href: url } }));
  }
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
  // A new record is said once: this line (its message and its notification's toast would
  // say it again).
  const record = respuesta.nuevo_record === true;
  dom.record.hidden = !record;
  dom.pendiente.hidden = !pendiente;
  dom.mensaje.textContent = !record && typeof respuesta.message === 'string' ? respuesta.message : '';
  dom.resultadoError.textContent = '';
  dom.reintentar.hidden = true;
  pintarDetalles(respuesta);
  mostrarAvisoInvitado(respuesta);
  if (j.partida.modo === 'diario') marcarDiarioJugado(j.partida.idioma);
  pintarSalidaDelResultado(j.partida.modo === 'diario', j.partida.idioma);
  prepararCompartir(respuesta);
  mostrarPanelResultado();
  pintarPalabrasJugadas();
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
  prepararCompartir(null);
  // A daily partida not saved yet may still be retried; once closed it cannot be replayed.
  pintarSalidaDelResultado(juego.partida.modo === 'diario', juego.partida.idioma);
  mostrarPanelResultado();
  pintarPalabrasJugadas();
  if (reintentable) dom.reintentar.focus();
}

/**
 * The result's way on: after the daily challenge (one attempt a day), choosing another
 * mode, with the line that says it was the daily; after any other game, playing again.
 */
function pintarSalidaDelResultado(diario, idioma) {
  dom.resultadoDiario.hidden = !diario;
  if (diario) {
    dom.resultadoDiarioRanking.href = `/ranking?tablero=diario&idioma=${encodeURIComponent(idioma || 'es')}`;
  }
  dom.jugarOtraVez.hidden = diario;
  dom.elegirModo.hidden = !diario;
  dom.otroIdioma.hidden = diario;
  dom.pistaIntroAccion.textContent = diario ? 'elegir otro modo' : 'jugar otra vez';
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
  if (ahora - j.ultimoEnVivo >= 500) actualizarEnVivo(ahora);
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

/** Whether Enter on `nodo` has its own meaning (a button, a link, a field, the certification test). */
function enControl(nodo) {
  if (!nodo || nodo === document.body) return false;
  if (nodo.closest('#certificacion')) return true;
  return nodo.matches('a[href], button, input, select, textarea, summary, [contenteditable]');
}

/** From the result back to the start panel (to pick another mode or language). */
function volverAlInicio() {
  if (estado !== 'resultado') return;
  dom.resultado.hidden = true;
  ponerEstado('inicio');
  reiniciarMarcador();
  const modo = document.querySelector('input[name="modo"]:checked');
  (modo || dom.idioma).focus();
}

/** The scoreboard as the page first showed it: the last game's figures are gone. */
function reiniciarMarcador() {
  for (const [clave, texto] of Object.entries(marcadorInicial)) dom[clave].textContent = texto;
  dom.relleno.style.removeProperty('--restante');
  dom.barra.classList.remove('urgente');
  dom.tiempoRestante.textContent = '';
}

// The scoreboard's first figures (read from the page at start-up).
const marcadorInicial = {};
const CLAVES_MARCADOR = [
  'vidas',
  'corazones',
  'nivel',
  'puntaje',
  'numeroPalabra',
  'totalPalabras',
  'ppmVivo',
  'precisionViva',
];

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
    ppmVivo: 'ppm-vivo',
    precisionViva: 'precision-viva',
    tiempos: 'resultado-tiempos',
    graficoTiempos: 'grafico-tiempos',
    tablaTiempos: 'tabla-tiempos',
    lentas: 'palabras-lentas',
    compartir: 'compartir',
    compartirEstado: 'compartir-estado',
    otroIdioma: 'otro-idioma',
    elegirModo: 'elegir-modo',
    pistaIntroAccion: 'pista-intro-accion',
    resultadoDiario: 'resultado-diario',
    resultadoDiarioRanking: 'resultado-diario-ranking',
  };
  for (const [clave, id] of Object.entries(ids)) {
    dom[clave] = $(id);
    if (!dom[clave]) return; // not the game page
  }
  for (const clave of CLAVES_MARCADOR) marcadorInicial[clave] = dom[clave].textContent;

  dom.comenzar.addEventListener('click', comenzar);
  dom.jugarOtraVez.addEventListener('click', comenzar);
  dom.compartir.addEventListener('click', compartir);
  dom.otroIdioma.addEventListener('click', volverAlInicio);
  dom.elegirModo.addEventListener('click', volverAlInicio);
  // The result's own record line says it: no toast of the same news over the figures.
  silenciarNotificaciones((n) => n.type === 'success' && String(n.message).startsWith('¡Nuevo récord personal'));
  window.addEventListener('resize', () => {
    if (estado === 'resultado') pintarPalabrasJugadas();
  });
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
    // Words have no spaces and nothing is submitted: swallow Space and Enter. Tab stays
    // here too: leaving the input mid-game would lose the letters while the clock runs
    // (Esc ends the game, and the page says so).
    if (
      (evento.key === ' ' && juego.palabra && !juego.palabra.includes(' ')) ||
      evento.key === 'Enter' ||
      evento.key === 'Tab'
    ) {
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
    if (evento.key === 'Enter' && estado === 'resultado' && !evento.repeat && !enControl(document.activeElement)) {
      evento.preventDefault();
      // After the daily challenge (one attempt a day), Enter leads to the other modes.
      if (dom.jugarOtraVez.hidden) volverAlInicio();
      else comenzar();
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
