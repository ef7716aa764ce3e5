// The certification test on /juego (docs/SECURITY.md, "The ranking: human results only").
//
// A result above 100 wpm and more than 25 % above the player's certified speed is held.
// This module walks the player through the test that releases it: an explanation, the
// "Hacer la prueba" button, the server-rendered image (its first fetch starts the
// server's clock), a textarea, and the server's verdict with what was released.
//
// juego.js calls showCertification(container, reply) when a save reply has
// en_revision: true and motivo: "certificacion". At load, a pending test is offered too.
// The text to type is never in any reply: only in the image.

import { $, api, decimal, el, numero, usuarioActual, vaciar } from './common.js';

const estado = {
  contenedor: null,
  prueba: null, // {id, objetivo_wpm, imagen, caduca_en_s}
  caducaEn: 0, // Date.now() value at which the open test expires
  temporizador: null,
  enviando: false,
  iniciado: false,
};

function nodos() {
  return {
    explicacion: $('certificacion-explicacion'),
    hacer: $('hacer-prueba'),
    formulario: $('prueba'),
    objetivo: $('prueba-objetivo'),
    caduca: $('prueba-caduca'),
    imagen: $('prueba-imagen'),
    texto: $('prueba-texto'),
    enviar: $('enviar-prueba'),
    veredicto: $('prueba-veredicto'),
    error: $('prueba-error'),
  };
}

function ppm(valor) {
  return `${decimal(valor)} ppm`;
}

function explicar(retenida, certificada) {
  const n = nodos();
  const sinCertificar = certificada === null || certificada === undefined;
  const referencia = sinCertificar
    ? 'la velocidad que damos por buena sin prueba (100 ppm)'
    : `tu velocidad certificada (${ppm(certificada)})`;
  n.explicacion.textContent =
    retenida !== null && retenida !== undefined
      ? `Tu resultado de ${ppm(retenida)} supera en más de un 25 % ${referencia}. ` +
        'Queda pendiente: no aparecerá en el ranking hasta que demuestres esa velocidad en una prueba corta.'
      : `Tienes resultados que superan en más de un 25 % ${referencia}. ` +
        'Están pendientes: no aparecerán en el ranking hasta que demuestres esa velocidad en una prueba corta.';
}

function mostrarError(mensaje) {
  const n = nodos();
  n.error.textContent = mensaje || '';
}

function pararReloj() {
  clearInterval(estado.temporizador);
  estado.temporizador = null;
}

function pintarCaducidad() {
  const n = nodos();
  const restante = Math.max(0, Math.round((estado.caducaEn - Date.now()) / 1000));
  const minutos = Math.floor(restante / 60);
  const segundos = String(restante % 60).padStart(2, '0');
  n.caduca.textContent = `${minutos}:${segundos}`;
  if (restante === 0) {
    pararReloj();
    n.enviar.disabled = true;
    mostrarError('La prueba ha caducado. Pulsa «Hacer la prueba» para empezar otra.');
    n.hacer.hidden = false;
    n.hacer.textContent = 'Hacer otra prueba';
  }
}

function abrirPrueba(prueba) {
  const n = nodos();
  estado.prueba = prueba;
  estado.caducaEn = Date.now() + Number(prueba.caduca_en_s || 0) * 1000;
  n.objetivo.textContent = numero(prueba.objetivo_wpm);
  n.texto.value = '';
  n.texto.disabled = true;
  n.enviar.disabled = true;
  n.formulario.hidden = false;
  n.hacer.hidden = true;
  vaciar(n.veredicto);
  mostrarError('');
  pararReloj();
  pintarCaducidad();
  estado.temporizador = setInterval(pintarCaducidad, 1000);
  // Loading the image starts the server's clock; typing is enabled once it is shown.
  n.imagen.addEventListener(
    'load',
    () => {
      n.texto.disabled = false;
      n.enviar.disabled = false;
      n.texto.focus();
    },
    { once: true },
  );
  n.imagen.addEventListener(
    'error',
    () => {
      mostrarError('No se pudo cargar la imagen de la prueba. Empieza otra.');
      n.hacer.hidden = false;
    },
    { once: true },
  );
  n.imagen.src = prueba.imagen;
}

async function empezar() {
  const n = nodos();
  n.hacer.disabled = true;
  mostrarError('');
  try {
    const prueba = await api('/api/certificacion', { method: 'POST', body: {} });
    abrirPrueba(prueba);
  } catch (error) {
    if (error.code === 'sin_resultados_retenidos') {
      mostrarError('Ya no tienes resultados pendientes de certificar.');
    } else {
      mostrarError(error.error || 'No se pudo empezar la prueba.');
    }
  } finally {
    n.hacer.disabled = false;
  }
}

function pintarVeredicto(datos) {
  const n = nodos();
  vaciar(n.veredicto);
  const titulo = el('p', {
    clase: datos.aprobada ? 'resultado-record' : 'aviso',
    texto: datos.aprobada ? '¡Prueba superada!' : 'Prueba no superada',
  });
  const cifras = el(
    'dl',
    { clase: 'cifras cifras-compactas' },
    el('dt', { texto: 'Tu velocidad' }),
    el('dd', { texto: ppm(datos.wpm) }),
    el('dt', { texto: 'Objetivo' }),
    el('dd', { texto: ppm(datos.objetivo_wpm) }),
    el('dt', { texto: 'Aciertos' }),
    el('dd', { texto: `${decimal(Number(datos.precision) * 100)} %` }),
    el('dt', { texto: 'Velocidad certificada' }),
    el('dd', {
      texto:
        datos.velocidad_certificada === null || datos.velocidad_certificada === undefined
          ? 'sin certificar'
          : ppm(datos.velocidad_certificada),
    }),
  );
  const liberadas = Array.isArray(datos.liberadas) ? datos.liberadas.length : 0;
  n.veredicto.append(titulo, cifras);
  if (datos.aprobada) {
    n.explicacion.textContent = `Tu velocidad certificada es ahora ${ppm(datos.velocidad_certificada)}.`;
    n.veredicto.append(
      el('p', {
        texto:
          liberadas === 1
            ? 'Se ha publicado 1 resultado: ya cuenta en el ranking.'
            : `Se han publicado ${liberadas} resultados: ya cuentan en el ranking.`,
      }),
      el('p', {}, el('a', { texto: 'Ver ranking', attrs: { href: '/ranking' } })),
    );
  } else {
    n.veredicto.append(el('p', { texto: datos.message || '' }));
    n.hacer.hidden = false;
    n.hacer.textContent = 'Intentar otra vez';
  }
  n.veredicto.focus();
}

async function responder(evento) {
  evento.preventDefault();
  const n = nodos();
  if (!estado.prueba || estado.enviando) return;
  estado.enviando = true;
  n.enviar.disabled = true;
  mostrarError('');
  try {
    const datos = await api(`/api/certificacion/${encodeURIComponent(estado.prueba.id)}/respuesta`, {
      method: 'POST',
      body: { texto: n.texto.value },
    });
    pararReloj();
    n.formulario.hidden = true;
    n.imagen.removeAttribute('src');
    estado.prueba = null;
    pintarVeredicto(datos);
  } catch (error) {
    pararReloj();
    n.formulario.hidden = true;
    estado.prueba = null;
    mostrarError(error.error || 'No se pudo enviar la respuesta.');
    n.hacer.hidden = false;
    n.hacer.textContent = 'Hacer otra prueba';
  } finally {
    estado.enviando = false;
  }
}

function iniciarUnaVez(contenedor) {
  if (estado.iniciado) return;
  estado.iniciado = true;
  estado.contenedor = contenedor;
  const n = nodos();
  n.hacer.addEventListener('click', empezar);
  n.formulario.addEventListener('submit', responder);
  n.texto.addEventListener('keydown', (evento) => {
    // One line of text: Intro sends (Mayús+Intro still breaks the line).
    if (evento.key === 'Enter' && !evento.shiftKey && !evento.isComposing) {
      evento.preventDefault();
      n.formulario.requestSubmit();
    }
  });
}

/**
 * Show the certification panel.
 * @param {HTMLElement} contenedor  the #certificacion section of /juego
 * @param {{wpm?: number, en_revision?: boolean, motivo?: string} | null} respuesta
 *        the save reply that held a result (or null: results pending from before)
 * @param {{enfocar?: boolean}} [opciones]  move the focus to the panel (default: yes)
 * @returns {Promise<void>}
 */
export async function showCertification(contenedor, respuesta = null, { enfocar = true } = {}) {
  const seccion = contenedor || $('certificacion');
  if (!seccion) return;
  iniciarUnaVez(seccion);
  let datos = null;
  try {
    datos = await api('/api/certificacion');
  } catch {
    datos = null;
  }
  const certificada = datos ? datos.velocidad_certificada : null;
  const retenida = respuesta && respuesta.wpm !== undefined ? respuesta.wpm : null;
  explicar(retenida, certificada);
  seccion.hidden = false;
  const n = nodos();
  if (datos && datos.prueba && !estado.prueba) {
    // A test already open (say, after reloading the page): carry on with it.
    n.hacer.hidden = false;
    n.hacer.textContent = datos.prueba.iniciada ? 'Seguir con la prueba' : 'Hacer la prueba';
  }
  if (enfocar) seccion.focus();
}

async function alCargar() {
  const seccion = $('certificacion');
  if (!seccion || !usuarioActual()) return;
  try {
    const datos = await api('/api/certificacion');
    if (datos && Array.isArray(datos.retenidas) && datos.retenidas.length > 0) {
      await showCertification(seccion, null, { enfocar: false });
    }
  } catch {
    /* not signed in, or the server is away: nothing to offer */
  }
}

if (typeof document !== 'undefined') {
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', alCargar, { once: true });
  } else {
    alCargar();
  }
}
