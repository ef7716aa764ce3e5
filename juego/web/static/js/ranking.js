// Ranking page: #tabla-ranking (one row per player, best first) and the player's position.

import { $, api, el, numero, plural, usuarioActual, vaciar } from './common.js';

const LIMITE = 100;

async function cargarRanking() {
  const cuerpo = $('tabla-ranking').tBodies[0];
  const estado = $('ranking-estado');
  const boton = $('actualizar-ranking');
  if (boton) boton.disabled = true;
  try {
    const datos = await api(`/api/ranking?limit=${LIMITE}`);
    const ranking = Array.isArray(datos.ranking) ? [...datos.ranking] : [];
    ranking.sort((a, b) => a.posicion - b.posicion);
    const yo = usuarioActual();
    const filas = ranking.map((fila) => {
      const esYo = Boolean(yo && fila.user_id === yo.id);
      const tr = el(
        'tr',
        { clase: esYo ? 'yo' : '' },
        el('td', { clase: 'num' }, el('span', { clase: `medalla medalla-${fila.posicion}`, texto: String(fila.posicion) })),
        el('td', { clase: 'celda-nombre', texto: fila.nombre }),
        el('td', { clase: 'num', texto: numero(fila.puntaje_maximo) }),
      );
      tr.dataset.userId = String(fila.user_id);
      if (esYo) tr.setAttribute('aria-current', 'true');
      return tr;
    });
    vaciar(cuerpo);
    cuerpo.append(...filas);
    estado.textContent = ranking.length === 0 ? 'Todavía no ha jugado nadie. ¡Sé el primero!' : '';
  } catch (error) {
    estado.textContent = `No se pudo cargar el ranking. ${error.error || ''}`.trim();
  } finally {
    if (boton) boton.disabled = false;
  }
}

async function cargarMiPosicion() {
  const destino = $('mi-posicion');
  if (!destino || !usuarioActual()) return;
  try {
    const datos = await api('/api/stats/usuario');
    const stats = datos.stats || {};
    if (stats.posicion_ranking === null || stats.posicion_ranking === undefined) {
      destino.textContent = 'Aún no tienes posición: juega una partida para entrar en el ranking.';
    } else {
      destino.textContent =
        `Tu posición: ${stats.posicion_ranking}.º · Récord: ${plural(stats.puntaje_maximo, 'punto', 'puntos')}` +
        ` · ${plural(stats.partidas_jugadas, 'partida', 'partidas')}`;
    }
  } catch (error) {
    destino.textContent = `No se pudo calcular tu posición. ${error.error || ''}`.trim();
  }
}

function cargarTodo() {
  cargarRanking();
  cargarMiPosicion();
}

$('actualizar-ranking')?.addEventListener('click', cargarTodo);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') cargarTodo();
});
cargarTodo();
