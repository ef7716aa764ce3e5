// Admin page: #tabla-usuarios with "Reiniciar puntuación" and "Eliminar" per user.
// Deleting asks for the admin's own password in a <dialog>; resetting and voiding ask for
// a second press of the same button (confirmado()). #tabla-revision: the results
// held for review or certification, with "Aprobar" and "Anular"; #form-anular voids a
// result that was already published (by its partida id).

import {
  $,
  api,
  decimal,
  el,
  fechaHora,
  fechaLarga,
  irALogin,
  numero,
  plural,
  toast,
  toastError,
  usuarioActual,
  vaciar,
} from './common.js';

let usuarios = [];

// ---------------------------------------------------------------- two-step confirmation

const CONFIRMAR = '¿Seguro? Pulsa otra vez';
const ESPERA_CONFIRMACION = 6000;

function desarmar(boton) {
  if (boton.dataset.confirmando !== 'true') return;
  clearTimeout(Number(boton.dataset.temporizador));
  boton.textContent = boton.dataset.texto;
  if (boton.dataset.etiqueta) boton.setAttribute('aria-label', boton.dataset.etiqueta);
  else boton.removeAttribute('aria-label');
  boton.classList.remove('confirmando');
  delete boton.dataset.confirmando;
}

/**
 * A destructive action's two steps: the first press arms the button (it asks "¿Seguro?"
 * for a few seconds), the second acts. True on the second press.
 */
function confirmado(boton, queHace) {
  if (boton.dataset.confirmando === 'true') {
    desarmar(boton);
    return true;
  }
  boton.dataset.confirmando = 'true';
  boton.dataset.texto = boton.textContent;
  boton.dataset.etiqueta = boton.getAttribute('aria-label') || '';
  boton.textContent = CONFIRMAR;
  boton.setAttribute('aria-label', `${CONFIRMAR} para ${queHace}`);
  boton.classList.add('confirmando');
  boton.dataset.temporizador = String(setTimeout(() => desarmar(boton), ESPERA_CONFIRMACION));
  boton.addEventListener('blur', () => desarmar(boton), { once: true });
  const aviso = $('admin-aviso');
  if (aviso) aviso.textContent = `Pulsa otra vez para ${queHace}.`;
  return false;
}
let aEliminar = null; // the user being deleted
let botonQueAbrio = null;

function filtrar() {
  const texto = $('filtro-usuarios').value.trim().toLocaleLowerCase('es');
  if (!texto) return usuarios;
  return usuarios.filter(
    (u) =>
      String(u.nombre).toLocaleLowerCase('es').includes(texto) ||
      String(u.email).toLocaleLowerCase('es').includes(texto),
  );
}

function filaUsuario(u) {
  const yo = usuarioActual();
  const esYo = Boolean(yo && yo.id === u.id);
  const reiniciar = el('button', {
    clase: 'boton boton-secundario boton-pequeno accion-reiniciar',
    texto: 'Reiniciar puntuación',
    attrs: { type: 'button', 'aria-label': `Reiniciar puntuación de ${u.nombre}` },
  });
  reiniciar.addEventListener('click', () => {
    if (confirmado(reiniciar, `reiniciar la puntuación de ${u.nombre}`)) reiniciarPuntuacion(u, reiniciar);
  });
  const eliminar = el('button', {
    clase: 'boton boton-peligro boton-pequeno accion-eliminar',
    texto: 'Eliminar',
    attrs: { type: 'button', 'aria-label': `Eliminar a ${u.nombre}` },
  });
  if (esYo) {
    eliminar.disabled = true;
    eliminar.title = 'No puedes eliminar tu propia cuenta';
  } else {
    eliminar.addEventListener('click', () => abrirDialogo(u, eliminar));
  }
  const tr = el(
    'tr',
    { clase: esYo ? 'yo' : '' },
    el('td', { clase: 'num', texto: u.id }),
    el('td', { clase: 'celda-nombre', texto: u.nombre }),
    el('td', { texto: u.email }),
    el('td', {}, el('span', { clase: u.es_admin ? 'etiqueta-rol admin' : 'etiqueta-rol', texto: u.es_admin ? 'Admin' : 'Jugador' })),
    el('td', { texto: fechaLarga(u.fecha_registro) }),
    el('td', { clase: 'num celda-record', texto: numero(u.puntaje_maximo ?? 0) }),
    el('td', { clase: 'num celda-partidas', texto: numero(u.partidas_jugadas ?? 0) }),
    el('td', { clase: 'celda-acciones' }, reiniciar, eliminar),
  );
  tr.dataset.userId = String(u.id);
  return tr;
}

function pintar() {
  const cuerpo = $('tabla-usuarios').tBodies[0];
  vaciar(cuerpo);
  const visibles = filtrar();
  cuerpo.append(...visibles.map(filaUsuario));
  const estado = $('usuarios-estado');
  if (usuarios.length === 0) estado.textContent = 'No hay usuarios.';
  else if (visibles.length === 0) estado.textContent = 'Ningún usuario coincide con la búsqueda.';
  else estado.textContent = `${numero(visibles.length)} de ${plural(usuarios.length, 'usuario', 'usuarios')}.`;
}

function manejarError(error, contexto) {
  if (error.status === 401) {
    irALogin('/admin');
    return;
  }
  toastError(error, contexto);
}

async function cargarUsuarios() {
  const boton = $('actualizar-usuarios');
  boton.disabled = true;
  try {
    const datos = await api('/api/admin/usuarios');
    usuarios = Array.isArray(datos.usuarios) ? datos.usuarios : [];
    pintar();
  } catch (error) {
    $('usuarios-estado').textContent = `No se pudieron cargar los usuarios. ${error.error || ''}`.trim();
    if (error.status === 401) irALogin('/admin');
  } finally {
    boton.disabled = false;
  }
}

async function cargarCifras() {
  try {
    const datos = await api('/api/stats/global');
    const stats = datos.stats || {};
    for (const dd of $('stats-globales').querySelectorAll('[data-stat]')) {
      dd.textContent = numero(stats[dd.dataset.stat]);
    }
  } catch {
    // Decoration only.
  }
}

async function reiniciarPuntuacion(u, boton) {
  boton.disabled = true;
  try {
    const respuesta = await api(`/api/admin/reiniciar_puntuacion/${encodeURIComponent(u.id)}`, { method: 'POST' });
    u.puntaje_maximo = 0;
    u.partidas_jugadas = 0;
    pintar();
    toast(respuesta.message || `Puntuación de ${u.nombre} reiniciada.`, 'success');
    cargarCifras();
  } catch (error) {
    boton.disabled = false;
    manejarError(error, 'No se pudo reiniciar la puntuación.');
  }
}

function abrirDialogo(u, boton) {
  aEliminar = u;
  botonQueAbrio = boton;
  $('eliminar-nombre').textContent = u.nombre;
  $('admin-password').value = '';
  $('admin-password').removeAttribute('aria-invalid');
  $('dialogo-error').textContent = '';
  $('confirmar-eliminar').disabled = false;
  const dialogo = $('dialogo-eliminar');
  if (typeof dialogo.showModal === 'function') dialogo.showModal();
  else dialogo.setAttribute('open', '');
  $('admin-password').focus();
}

function cerrarDialogo() {
  const dialogo = $('dialogo-eliminar');
  if (dialogo.open) dialogo.close();
}

async function confirmarEliminar(evento) {
  evento.preventDefault();
  const u = aEliminar;
  if (!u) return;
  const password = $('admin-password').value;
  const error = $('dialogo-error');
  error.textContent = '';
  if (!password) {
    error.textContent = 'Escribe tu contraseña para confirmar.';
    $('admin-password').setAttribute('aria-invalid', 'true');
    $('admin-password').focus();
    return;
  }
  const boton = $('confirmar-eliminar');
  boton.disabled = true;
  try {
    const respuesta = await api(`/api/admin/eliminar_usuario/${encodeURIComponent(u.id)}`, {
      method: 'POST',
      body: { password },
    });
    usuarios = usuarios.filter((x) => x.id !== u.id);
    aEliminar = null;
    botonQueAbrio = null;
    cerrarDialogo();
    pintar();
    toast(respuesta.message || `Usuario ${u.nombre} eliminado.`, 'success');
    cargarCifras();
    $('tabla-usuarios').focus();
  } catch (err) {
    boton.disabled = false;
    if (err.status === 401 && !(await sesionViva())) {
      irALogin('/admin');
      return;
    }
    error.textContent = err.error || 'No se pudo eliminar el usuario.';
    $('admin-password').setAttribute('aria-invalid', 'true');
    $('admin-password').select();
  }
}

/** A 401 may mean a wrong password or an expired session: ask which. */
async function sesionViva() {
  try {
    await api('/api/yo');
    return true;
  } catch (error) {
    return error.status !== 401;
  }
}

// ---------------------------------------------------------------- held results

const MOTIVOS = {
  revision: 'Revisión',
  certificacion: 'Certificación',
};

function filaRetenida(r) {
  const aprobar = el('button', {
    clase: 'boton boton-secundario boton-pequeno accion-aprobar',
    texto: 'Aprobar',
    attrs: { type: 'button', 'aria-label': `Aprobar el resultado de ${r.nombre}` },
  });
  const anular = el('button', {
    clase: 'boton boton-peligro boton-pequeno accion-anular',
    texto: 'Anular',
    attrs: { type: 'button', 'aria-label': `Anular el resultado de ${r.nombre}` },
  });
  const fila = el(
    'tr',
    {},
    el('td', { clase: 'celda-nombre', texto: r.nombre }),
    el('td', { clase: 'num', texto: decimal(r.wpm) }),
    el('td', { clase: 'num', texto: numero(r.puntaje) }),
    el(
      'td',
      {},
      el('span', { clase: 'etiqueta-rol', texto: MOTIVOS[r.motivo] || String(r.motivo) }),
      ' ',
      el('span', { clase: 'regla', texto: r.regla || '' }),
    ),
    el('td', { texto: fechaHora(r.cerrada) }),
    el('td', { clase: 'celda-acciones' }, aprobar, anular),
  );
  fila.dataset.partidaId = String(r.partida_id);
  aprobar.addEventListener('click', () => decidir(r, 'aprobar', [aprobar, anular]));
  anular.addEventListener('click', () => {
    if (confirmado(anular, `anular el resultado de ${r.nombre}`)) decidir(r, 'anular', [aprobar, anular]);
  });
  return fila;
}

async function cargarRevision() {
  const estado = $('revision-estado');
  try {
    const datos = await api('/api/admin/revision');
    const resultados = Array.isArray(datos.resultados) ? datos.resultados : [];
    const cuerpo = $('tabla-revision').tBodies[0];
    vaciar(cuerpo);
    cuerpo.append(...resultados.map(filaRetenida));
    estado.textContent =
      resultados.length === 0
        ? 'No hay resultados pendientes de revisión.'
        : `${plural(resultados.length, 'resultado pendiente', 'resultados pendientes')}.`;
  } catch (error) {
    estado.textContent = `No se pudieron cargar los resultados. ${error.error || ''}`.trim();
    if (error.status === 401) irALogin('/admin');
  }
}

async function decidir(r, accion, botones) {
  for (const boton of botones) boton.disabled = true;
  try {
    const respuesta = await api(
      `/api/admin/resultados/${encodeURIComponent(r.partida_id)}/${accion}`,
      { method: 'POST' },
    );
    toast(respuesta.message || (accion === 'aprobar' ? 'Resultado aprobado.' : 'Resultado anulado.'), 'success');
    cargarRevision();
    cargarCifras();
    cargarUsuarios();
  } catch (error) {
    for (const boton of botones) boton.disabled = false;
    manejarError(error, accion === 'aprobar' ? 'No se pudo aprobar.' : 'No se pudo anular.');
  }
}

async function anularPublicado(evento) {
  evento.preventDefault();
  const campo = $('anular-partida');
  const id = campo.value.trim();
  if (!id) {
    campo.setAttribute('aria-invalid', 'true');
    campo.focus();
    return;
  }
  campo.removeAttribute('aria-invalid');
  const boton = $('anular-publicado');
  if (!confirmado(boton, `anular el resultado ${id}`)) return;
  boton.disabled = true;
  try {
    const respuesta = await api(`/api/admin/resultados/${encodeURIComponent(id)}/anular`, {
      method: 'POST',
    });
    campo.value = '';
    toast(respuesta.message || 'Resultado anulado.', 'success');
    cargarRevision();
    cargarCifras();
    cargarUsuarios();
  } catch (error) {
    manejarError(error, 'No se pudo anular.');
  } finally {
    boton.disabled = false;
  }
}

if ($('tabla-revision')) {
  $('actualizar-revision').addEventListener('click', cargarRevision);
  $('form-anular').addEventListener('submit', anularPublicado);
  cargarRevision();
}

if ($('tabla-usuarios')) {
  $('tabla-usuarios').tabIndex = -1;
  $('filtro-usuarios').addEventListener('input', pintar);
  $('actualizar-usuarios').addEventListener('click', () => {
    cargarUsuarios();
    cargarCifras();
  });
  $('form-eliminar').addEventListener('submit', confirmarEliminar);
  $('cancelar-eliminar').addEventListener('click', cerrarDialogo);
  $('dialogo-eliminar').addEventListener('close', () => {
    aEliminar = null;
    if (botonQueAbrio && botonQueAbrio.isConnected) botonQueAbrio.focus();
    botonQueAbrio = null;
  });
  cargarUsuarios();
  cargarCifras();
}
