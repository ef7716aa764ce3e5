// The replay's logic, without the DOM: the timeline of a verified game (every change the
// screen goes through, with its time) and a player that walks one or more timelines on a
// shared clock (several racers side by side use the same player).
//
// The server keeps each input event's time, not its text: the typed text is shown growing
// with every keystroke towards the word (all of it once a typed word ends), never as the
// exact letters pressed.

/** The code points of a word (a word's length is its number of code points). */
function letras(palabra) {
  return [...String(palabra)];
}

/**
 * The text shown after keystroke `k` (1-based) of the `n` a word had.
 * A typed word grows in proportion and is complete at its last keystroke; a missed word
 * grows by one letter a keystroke and never completes.
 */
export function escritoTras(palabra, ok, k, n) {
  const partes = letras(palabra);
  if (k <= 0 || partes.length === 0) return '';
  const largo = ok ? Math.min(partes.length, Math.ceil((k * partes.length) / n)) : Math.min(k, partes.length - 1);
  return partes.slice(0, largo).join('');
}

/**
 * The timeline of a replay, from the API's events ({palabra, ok, errores, t, d, teclas}).
 * Each step is the whole screen state from its time `ms` (since the start, at 1×) on:
 *   tipo: 'palabra' (word `indice` shown), 'tecla' (a keystroke) or 'fin' (the word ended,
 *   `ok` or missed); palabra, escrito (the typed text), pulsaciones (of this word), total
 *   (keystrokes so far), aciertos and fallos (words ended so far).
 * Steps are in time order; steps at the same time keep the game's order.
 */
export function lineaDeTiempo(eventos) {
  const pasos = [];
  let inicio = 0;
  let total = 0;
  let aciertos = 0;
  let fallos = 0;
  eventos.forEach((evento, indice) => {
    const palabra = String(evento.palabra);
    const teclas = Array.isArray(evento.teclas) ? evento.teclas : [];
    const fin = Number(evento.t);
    const base = { indice, palabra, ok: null, errores: 0 };
    pasos.push({ ...base, ms: inicio, tipo: 'palabra', escrito: '', pulsaciones: 0, total, aciertos, fallos });
    teclas.forEach((tecla, k) => {
      total += 1;
      pasos.push({
        ...base,
        ms: Math.min(inicio + Number(tecla), fin),
        tipo: 'tecla',
        escrito: escritoTras(palabra, Boolean(evento.ok), k + 1, teclas.length),
        pulsaciones: k + 1,
        total,
        aciertos,
        fallos,
      });
    });
    if (evento.ok) aciertos += 1;
    else fallos += 1;
    const ultimo = pasos[pasos.length - 1];
    pasos.push({
      ...base,
      ms: fin,
      tipo: 'fin',
      ok: Boolean(evento.ok),
      errores: Number(evento.errores) || 0,
      escrito: evento.ok ? palabra : ultimo.escrito,
      pulsaciones: teclas.length,
      total,
      aciertos,
      fallos,
    });
    inicio = fin;
  });
  return pasos;
}

/** The index of the last step at or before `ms` (-1: none yet). */
export function pasoHasta(pasos, ms) {
  let bajo = 0;
  let alto = pasos.length - 1;
  let encontrado = -1;
  while (bajo <= alto) {
    const medio = (bajo + alto) >> 1;
    if (pasos[medio].ms <= ms) {
      encontrado = medio;
      bajo = medio + 1;
    } else {
      alto = medio - 1;
    }
  }
  return encontrado;
}

/** The speeds the player offers. */
export const VELOCIDADES = [0.5, 1, 2, 4];

/** How often the progress moves while nothing else happens (ms of real time). */
const REFRESCO_MS = 100;

/**
 * Plays timelines on one clock. `pistas`: [{pasos, pintar(paso | null)}] (null: before the
 * first step); `reloj`: {ahora() -> ms, programar(fn, ms) -> handle, cancelar(handle)}
 * (performance.now and setTimeout in the page, a fake in tests); `alCambiar(reproductor)`
 * is called after every change (position, state, speed).
 * States: 'lista', 'reproduciendo', 'pausada', 'terminada'.
 */
export class Reproductor {
  constructor(pistas, reloj, alCambiar = () => {}) {
    this.pistas = pistas.map((pista) => ({ ...pista, indice: -1 }));
    this.reloj = reloj;
    this.alCambiar = alCambiar;
    this.duracion = Math.max(0, ...this.pistas.map((p) => (p.pasos.length ? p.pasos[p.pasos.length - 1].ms : 0)));
    this.velocidad = 1;
    this.estado = 'lista';
    this._base = 0; // replay ms at _desde
    this._desde = 0; // clock ms when the replay was at _base
    this._temporizador = null;
    this._dibujar(true);
  }

  /** The replay's position (ms of the game). */
  posicion() {
    if (this.estado !== 'reproduciendo') return this._base;
    return Math.min(this.duracion, this._base + (this.reloj.ahora() - this._desde) * this.velocidad);
  }

  reproducir() {
    if (this.estado === 'reproduciendo') return;
    if (this.estado === 'terminada' || this._base >= this.duracion) this._base = 0;
    this._desde = this.reloj.ahora();
    this.estado = 'reproduciendo';
    this._dibujar(true);
    this._avanzar();
  }

  pausar() {
    if (this.estado !== 'reproduciendo') return;
    this._base = this.posicion();
    this.estado = 'pausada';
    this._parar();
    this._dibujar(false);
    this.alCambiar(this);
  }

  alternar() {
    if (this.estado === 'reproduciendo') this.pausar();
    else this.reproducir();
  }

  /** Change the speed, keeping the position. */
  cambiarVelocidad(velocidad) {
    if (!(velocidad > 0)) return;
    this._base = this.posicion();
    this._desde = this.reloj.ahora();
    this.velocidad = velocidad;
    if (this.estado === 'reproduciendo') {
      this._parar();
      this._avanzar();
    } else {
      this.alCambiar(this);
    }
  }

  /** Jump to `ms` of the game (playing on if it was playing). */
  buscar(ms) {
    this._base = Math.max(0, Math.min(this.duracion, Number(ms) || 0));
    this._desde = this.reloj.ahora();
    if (this.estado === 'terminada') this.estado = 'pausada';
    this._dibujar(true);
    if (this.estado === 'reproduciendo') {
      this._parar();
      this._avanzar();
    } else {
      this.alCambiar(this);
    }
  }

  _parar() {
    if (this._temporizador !== null) this.reloj.cancelar(this._temporizador);
    this._temporizador = null;
  }

  /** Paint each track's state at the current position (every track when `todas`). */
  _dibujar(todas) {
    const ms = this.posicion();
    for (const pista of this.pistas) {
      const indice = pasoHasta(pista.pasos, ms);
      if (todas || indice !== pista.indice) {
        pista.indice = indice;
        pista.pintar(indice < 0 ? null : pista.pasos[indice]);
      }
    }
    return ms;
  }

  _avanzar() {
    this._temporizador = null;
    const ms = this._dibujar(false);
    if (ms >= this.duracion) {
      this._base = this.duracion;
      this.estado = 'terminada';
      this.alCambiar(this);
      return;
    }
    let siguiente = this.duracion;
    for (const pista of this.pistas) {
      const paso = pista.pasos[pista.indice + 1];
      if (paso && paso.ms < siguiente) siguiente = paso.ms;
    }
    const espera = Math.min(REFRESCO_MS, Math.max(0, Math.ceil((siguiente - ms) / this.velocidad)));
    this._temporizador = this.reloj.programar(() => this._avanzar(), espera);
    this.alCambiar(this);
  }
}
