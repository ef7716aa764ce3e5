// Home page: top 5 of the ranking and a few global figures.

import { $, api, el, numero, plural, usuarioActual, vaciar } from './common.js';

async function cargarTop() {
  const lista = $('top5');
  const estado = $('top5-estado');
  if (!lista) return;
  try {
    const datos = await api('/api/ranking?limit=5');
    const ranking = Array.isArray(datos.ranking) ? datos.ranking : [];
    vaciar(lista);
    const yo = usuarioActual();
    for (const fila of ranking) {
      const item = el(
        'li',
        {},
        el('span', { clase: 'posicion', texto: `${fila.posicion}.`, attrs: { 'aria-hidden': 'true' } }),
        el('span', { clase: 'nombre', texto: fila.nombre, attrs: { title: fila.nombre } }),
        el('span', { clase: 'puntos', texto: `${numero(fila.puntaje_maximo)} pts` }),
      );
      item.setAttribute('aria-label', `${fila.posicion}. ${fila.nombre}: ${plural(fila.puntaje_maximo, 'punto', 'puntos')}`);
      if (yo && fila.user_id === yo.id) item.classList.add('yo');
      lista.append(item);
    }
    estado.textContent = ranking.length === 0 ? 'Todavía no ha jugado nadie. ¡Estrena el ranking!' : '';
  } catch (error) {
    estado.textContent = `No se pudo cargar el ranking. ${error.error || ''}`.trim();
  }
}

async function cargarCifras() {
  const cifras = $('stats-globales');
  if (!cifras) return;
  try {
    const datos = await api('/api/stats/global');
    const stats = datos.stats || {};
    for (const dd of cifras.querySelectorAll('[data-stat]')) {
      dd.textContent = numero(stats[dd.dataset.stat]);
    }
  } catch {
    // The figures are decoration: keep the dashes.
  }
}

cargarTop();
cargarCifras();
