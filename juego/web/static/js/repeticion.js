// Replay page (/repeticion/<partida_id>): the game re-typed from its stored keystrokes, with
// play/pause, speed and a progress bar. The timeline and the player are in
// repeticion-linea.js (no DOM there); this paints one .pista per game: the page's, and
// those named by ?con=<partida_id> (a race's racers, or any games to compare), side by side
// on the same controls. All text is set with textContent.

import { $, api, decimal, fechaHora, numero, porcentaje } from './common.js';
import { Reproductor, VELOCIDADES, lineaDeTiempo } from './repeticion-linea.js';

/** At most this many games side by side (a race has 2 to 8 racers). */
const MAX_PISTAS = 8;

const ESTADOS = {
  en_revision: 'Este resultado está en revisión: solo tú puedes ver esta repetición.',
  anulada: 'Este resultado fue anulado por un administrador: solo tú puedes ver esta repetición.',
};

function segundos(ms) {
  return `${decimal(Math.max(0, ms) / 1000)} s`;
}

/** A track for one player's replay: its element (from the page's template) and painter. */
function crearPista(replay) {
  const nodo = $('plantilla-pista').content.firstElementChild.cloneNode(true);
  const parte = (clase) => nodo.querySelector(`.${clase}`);
  nodo.dataset.partidaId = replay.partida_id;
  parte('pista-jugador').textContent = replay.jugador.nombre;
  parte('pista-puntaje').textContent = `${numero(replay.puntaje)} puntos · ${decimal(replay.wpm)} palabras/min`;
  parte('pista-palabras').textContent = numero(replay.eventos.length);
  const palabra = parte('pista-palabra');
  const escrito = parte('pista-escrito');
  const pintar = (paso) => {
    palabra.textContent = paso ? paso.palabra : '';
    palabra.dataset.resultado = paso && paso.tipo === 'fin' ? (paso.ok ? 'acertada' : 'fallada') : '';
    escrito.textContent = paso ? paso.escrito : '';
    parte('pista-numero').textContent = numero(paso ? paso.indice + 1 : 0);
    parte('pista-pulsaciones').textContent = numero(paso ? paso.total : 0);
    parte('pista-aciertos').textContent = numero(paso ? paso.aciertos : 0);
    parte('pista-fallos').textContent = numero(paso ? paso.fallos : 0);
  };
  return { nodo, pasos: lineaDeTiempo(replay.eventos), pintar };
}

function pintarCifras(replay) {
  const formatos = {
    puntaje: numero,
    wpm: decimal,
    precision: porcentaje,
    fecha: (valor) => (valor ? fechaHora(valor) : '—'),
  };
  for (const dd of document.querySelectorAll('#rep-cifras [data-dato]')) {
    dd.textContent = formatos[dd.dataset.dato](replay[dd.dataset.dato]);
  }
  const aviso = $('rep-aviso');
  aviso.textContent = ESTADOS[replay.estado] || '';
  aviso.hidden = !ESTADOS[replay.estado];
}

function iniciar(replays) {
  const raiz = $('repeticion');
  const boton = $('rep-reproducir');
  const velocidad = $('rep-velocidad');
  const progreso = $('rep-progreso');
  const tiempo = $('rep-tiempo');
  const pistas = replays.map(crearPista);
  $('pistas').append(...pistas.map((p) => p.nodo));
  const reloj = {
    ahora: () => performance.now(),
    programar: (fn, ms) => setTimeout(fn, ms),
    cancelar: (id) => clearTimeout(id),
  };
  const alCambiar = (r) => {
    const ms = r.posicion();
    raiz.dataset.estado = r.estado;
    boton.textContent = r.estado === 'reproduciendo' ? 'Pausa' : r.estado === 'terminada' ? 'Repetir' : 'Reproducir';
    progreso.value = String(Math.round(ms));
    progreso.setAttribute('aria-valuetext', `${segundos(ms)} de ${segundos(r.duracion)}`);
    tiempo.textContent = `${segundos(ms)} / ${segundos(r.duracion)}`;
  };
  const reproductor = new Reproductor(pistas, reloj, alCambiar);
  progreso.max = String(Math.round(reproductor.duracion));
  progreso.disabled = false;
  boton.disabled = false;
  boton.addEventListener('click', () => reproductor.alternar());
  // The space bar plays and pauses, unless a control has the focus (it has its own keys).
  document.addEventListener('keydown', (evento) => {
    if (evento.key !== ' ' || evento.target.closest('button, input, select, textarea, a')) return;
    evento.preventDefault();
    reproductor.alternar();
  });
  velocidad.addEventListener('change', () => {
    const valor = Number(velocidad.value);
    if (VELOCIDADES.includes(valor)) reproductor.cambiarVelocidad(valor);
  });
  reproductor.cambiarVelocidad(Number(velocidad.value) || 1);
  progreso.addEventListener('input', () => reproductor.buscar(Number(progreso.value)));
  raiz.dataset.estado = reproductor.estado;
  alCambiar(reproductor);
  $('rep-estado').textContent = '';
}

/** Other games to replay beside this one (?con=<id>, repeated): a race's racers, say. */
function otras(id) {
  const ids = new URLSearchParams(location.search).getAll('con');
  return [...new Set(ids)].filter((otra) => otra && otra !== id).slice(0, MAX_PISTAS - 1);
}

async function cargar() {
  const raiz = $('repeticion');
  const id = raiz.dataset.partidaId;
  const pedir = (partida) => api(`/api/repeticion/${encodeURIComponent(partida)}`);
  try {
    const replay = await pedir(id);
    // The others that may not be seen (or do not exist) are left out, and the page says so.
    const demas = await Promise.all(otras(id).map((otra) => pedir(otra).catch(() => null)));
    pintarCifras(replay);
    iniciar([replay, ...demas.filter(Boolean)]);
    if (demas.includes(null)) {
      $('rep-estado').textContent = 'Alguna de las otras repeticiones no existe o no es pública.';
    }
  } catch (error) {
    raiz.dataset.estado = 'error';
    $('rep-estado').textContent = `No se pudo cargar la repetición. ${error.error || ''}`.trim();
  }
}

if ($('repeticion')) cargar();
