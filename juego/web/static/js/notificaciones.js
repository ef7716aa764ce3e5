// Notifications page: #lista-notificaciones (newest first), a button per unread item and
// #marcar-todas. New notifications pushed to common.js (socket or polling) appear live.

import {
  $,
  api,
  el,
  elementoTiempo,
  fijarContador,
  irALogin,
  marcarConocidas,
  notificacionesIniciales,
  toastError,
  vaciar,
} from './common.js';

const ICONOS = { info: 'i', success: '✓', warning: '!', error: '×' };
const TIPOS = { info: 'Información', success: 'Logro', warning: 'Aviso', error: 'Error' };

/** id -> {datos, nodo} */
const items = new Map();

function contarNoLeidas() {
  let n = 0;
  for (const { datos } of items.values()) if (!datos.leida) n += 1;
  return n;
}

function actualizarResumen() {
  const noLeidas = contarNoLeidas();
  fijarContador(noLeidas);
  $('marcar-todas').disabled = noLeidas === 0;
  const estado = $('notificaciones-estado');
  if (items.size === 0) estado.textContent = 'No tienes notificaciones. ¡Juega una partida y bate tu récord!';
  else estado.textContent = noLeidas === 0 ? 'Todo leído.' : `${noLeidas} sin leer.`;
}

function crearItem(n) {
  const tipo = Object.hasOwn(TIPOS, n.type) ? n.type : 'info';
  const nodo = el('li', { clase: `notificacion tipo-${tipo}` });
  nodo.dataset.id = String(n.id);
  const cuerpo = el(
    'div',
    {},
    el('p', { clase: 'notificacion-mensaje', texto: String(n.message ?? '') }),
    el('p', { clase: 'notificacion-meta' }, `${TIPOS[tipo]} · `, elementoTiempo(n.timestamp)),
  );
  nodo.append(el('span', { clase: 'notificacion-icono', texto: ICONOS[tipo], attrs: { 'aria-hidden': 'true' } }), cuerpo);
  return nodo;
}

function pintarEstadoItem(item) {
  const { datos, nodo } = item;
  nodo.classList.toggle('leida', Boolean(datos.leida));
  nodo.classList.toggle('no-leida', !datos.leida);
  const viejo = nodo.querySelector('button');
  if (viejo) viejo.remove();
  if (!datos.leida) {
    const boton = el('button', {
      clase: 'boton boton-secundario boton-pequeno',
      texto: 'Marcar como leída',
      attrs: { type: 'button', 'aria-label': `Marcar como leída: ${String(datos.message ?? '')}` },
    });
    boton.addEventListener('click', () => marcar([datos.id], boton));
    nodo.append(boton);
  }
}

function agregar(n, { alPrincipio = false } = {}) {
  if (items.has(n.id)) return;
  const item = { datos: { ...n }, nodo: crearItem(n) };
  items.set(n.id, item);
  pintarEstadoItem(item);
  const lista = $('lista-notificaciones');
  if (alPrincipio) lista.prepend(item.nodo);
  else lista.append(item.nodo);
}

async function marcar(ids, boton) {
  if (boton) boton.disabled = true;
  try {
    await api('/api/notificaciones/leer', { method: 'POST', body: ids ? { ids } : {} });
    const objetivo = ids ? ids : [...items.keys()];
    for (const id of objetivo) {
      const item = items.get(id);
      if (!item) continue;
      item.datos.leida = true;
      pintarEstadoItem(item);
    }
    actualizarResumen();
    if (!ids) $('lista-notificaciones').focus?.();
  } catch (error) {
    if (error.status === 401) {
      irALogin('/notificaciones');
      return;
    }
    if (boton) boton.disabled = false;
    toastError(error, 'No se pudo marcar como leída.');
  }
}

async function cargar() {
  try {
    // The list common.js fetched for the badge: one request per page.
    const datos = await notificacionesIniciales();
    const lista = Array.isArray(datos.notifications) ? datos.notifications : [];
    marcarConocidas(lista);
    vaciar($('lista-notificaciones'));
    items.clear();
    for (const n of lista) agregar(n);
    actualizarResumen();
  } catch (error) {
    if (error.status === 401) {
      irALogin('/notificaciones');
      return;
    }
    $('notificaciones-estado').textContent = `No se pudieron cargar las notificaciones. ${error.error || ''}`.trim();
  }
}

if ($('lista-notificaciones')) {
  $('lista-notificaciones').tabIndex = -1;
  $('marcar-todas').addEventListener('click', (evento) => marcar(null, evento.currentTarget));
  $('marcar-todas').disabled = true;
  document.addEventListener('juego:notificacion', (evento) => {
    const n = evento.detail;
    if (!n || items.has(n.id)) return;
    agregar(n, { alPrincipio: true });
    actualizarResumen();
  });
  cargar();
}
