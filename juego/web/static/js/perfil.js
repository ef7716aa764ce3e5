// Profile page: the player's data, stats, a chart of the last games (#grafico-partidas,
// an inline SVG built with createElementNS) and the form to edit name and bio.

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
  porcentaje,
  toast,
  vaciar,
} from './common.js';

const SVG = 'http://www.w3.org/2000/svg';
const MAX_BIO = 500;
const MAX_NOMBRE = 40;
const IDIOMAS = { es: 'Español', en: 'Inglés' };

function svg(tag, attrs = {}, texto) {
  const nodo = document.createElementNS(SVG, tag);
  for (const [nombre, valor] of Object.entries(attrs)) nodo.setAttribute(nombre, String(valor));
  if (texto !== undefined) nodo.textContent = String(texto);
  return nodo;
}

function largo(texto) {
  return [...texto].length;
}

/** A round axis maximum (1, 2, 2.5, 5 × 10^k) at or above `valor`. */
function maximoRedondo(valor) {
  if (!(valor > 0)) return 10;
  const potencia = 10 ** Math.floor(Math.log10(valor));
  for (const paso of [1, 2, 2.5, 5, 10]) {
    if (paso * potencia >= valor) return paso * potencia;
  }
  return 10 * potencia;
}

// ---------------------------------------------------------------- chart

/** Least room (px) between two labels of the horizontal axis. */
const HUECO_ETIQUETA = 28;

function dibujarGrafico(partidas) {
  const grafico = $('grafico-partidas');
  if (!grafico) return;
  for (const viejo of grafico.querySelectorAll('g.contenido')) viejo.remove();
  // Drawn at the size it is shown (one unit = one CSS pixel), so its 12 px text stays
  // 12 px on a phone instead of shrinking with a wide viewBox.
  const alto = 260;
  const ancho = Math.max(300, Math.round(grafico.parentElement.clientWidth || 640));
  grafico.setAttribute('viewBox', `0 0 ${ancho} ${alto}`);
  grafico.setAttribute('width', String(ancho));
  grafico.setAttribute('height', String(alto));
  const margen = { arriba: 30, derecha: 44, abajo: 34, izquierda: 46 };
  const w = ancho - margen.izquierda - margen.derecha;
  const h = alto - margen.arriba - margen.abajo;
  const raiz = svg('g', { class: 'contenido' });
  grafico.append(raiz);

  // Oldest on the left, newest on the right.
  const datos = [...partidas].reverse();
  if (datos.length === 0) {
    raiz.append(
      svg('text', { x: ancho / 2, y: alto / 2, 'text-anchor': 'middle', class: 'vacio' }, 'Aún no has jugado ninguna partida.'),
    );
    return;
  }

  const puntajes = datos.map((p) => Number(p.puntaje) || 0);
  const maximo = maximoRedondo(Math.max(...puntajes));
  const mejor = Math.max(...puntajes);
  const y = (valor) => margen.arriba + h - (valor / maximo) * h;

  // Grid and left axis.
  for (let k = 0; k <= 4; k += 1) {
    const valor = (maximo * k) / 4;
    const yy = y(valor);
    raiz.append(svg('line', { x1: margen.izquierda, x2: margen.izquierda + w, y1: yy, y2: yy, class: k === 0 ? 'eje' : 'rejilla' }));
    raiz.append(svg('text', { x: margen.izquierda - 8, y: yy + 4, 'text-anchor': 'end' }, decimal(valor)));
  }
  raiz.append(svg('text', { x: margen.izquierda - 8, y: 12, 'text-anchor': 'end' }, 'pts'));

  // Bars.
  const hueco = w / datos.length;
  const anchoBarra = Math.max(4, Math.min(36, hueco * 0.62));
  datos.forEach((partida, indice) => {
    const valor = puntajes[indice];
    const cx = margen.izquierda + hueco * indice + hueco / 2;
    const altoBarra = Math.max(valor > 0 ? 2 : 1, (valor / maximo) * h);
    const barra = svg('rect', {
      x: (cx - anchoBarra / 2).toFixed(1),
      y: (margen.arriba + h - altoBarra).toFixed(1),
      width: anchoBarra.toFixed(1),
      height: altoBarra.toFixed(1),
      rx: 3,
      class: valor === mejor && mejor > 0 ? 'barra mejor' : 'barra',
    });
    const partes = [`${fechaHora(partida.fecha)}: ${plural(valor, 'punto', 'puntos')}`];
    if (partida.wpm !== undefined && partida.wpm !== null) partes.push(`${decimal(partida.wpm)} palabras/min`);
    if (partida.precision !== undefined && partida.precision !== null) partes.push(`precisión ${porcentaje(partida.precision)}`);
    barra.append(svg('title', {}, partes.join(' · ')));
    raiz.append(barra);
    if (indice % Math.max(1, Math.ceil(HUECO_ETIQUETA / hueco)) === 0) {
      raiz.append(svg('text', { x: cx.toFixed(1), y: alto - margen.abajo + 18, 'text-anchor': 'middle' }, indice + 1));
    }
  });
  raiz.append(
    svg('text', { x: margen.izquierda + w / 2, y: alto - 4, 'text-anchor': 'middle' }, 'Partidas (de la más antigua a la más reciente)'),
  );

  // Words per minute, on its own scale (right axis), when the server reports it.
  const ppm = datos.map((p) => (p.wpm === undefined || p.wpm === null ? null : Number(p.wpm)));
  const conPpm = ppm.filter((v) => v !== null && Number.isFinite(v));
  if (conPpm.length > 0) {
    const maxPpm = maximoRedondo(Math.max(...conPpm));
    const yp = (valor) => margen.arriba + h - (valor / maxPpm) * h;
    const puntos = [];
    ppm.forEach((valor, indice) => {
      if (valor === null || !Number.isFinite(valor)) return;
      const cx = margen.izquierda + hueco * indice + hueco / 2;
      puntos.push(`${cx.toFixed(1)},${yp(valor).toFixed(1)}`);
      const punto = svg('circle', { cx: cx.toFixed(1), cy: yp(valor).toFixed(1), r: 3.5, class: 'punto-ppm' });
      punto.append(svg('title', {}, `${decimal(valor)} palabras por minuto`));
      raiz.append(punto);
    });
    if (puntos.length > 1) raiz.insertBefore(svg('polyline', { points: puntos.join(' '), class: 'linea-ppm' }), raiz.querySelector('circle'));
    for (let k = 0; k <= 4; k += 2) {
      const valor = (maxPpm * k) / 4;
      raiz.append(svg('text', { x: margen.izquierda + w + 8, y: yp(valor) + 4, 'text-anchor': 'start' }, decimal(valor)));
    }
    raiz.append(svg('text', { x: margen.izquierda + w + 8, y: 12, 'text-anchor': 'start' }, 'ppm'));
    mostrarLeyenda(true, mejor > 0);
  } else {
    mostrarLeyenda(false, mejor > 0);
  }
}

function mostrarLeyenda(conPpm, conMejor) {
  const leyenda = $('grafico-leyenda');
  if (!leyenda) return;
  vaciar(leyenda);
  const lista = el(
    'ul',
    { clase: 'leyenda' },
    el('li', {}, el('span', { clase: 'leyenda-muestra barra', attrs: { 'aria-hidden': 'true' } }), 'Puntuación (eje izquierdo)'),
  );
  if (conMejor) {
    // The best game's bar has its own colour: the legend says which.
    lista.append(el('li', {}, el('span', { clase: 'leyenda-muestra mejor', attrs: { 'aria-hidden': 'true' } }), 'Tu mejor partida'));
  }
  if (conPpm) {
    lista.append(el('li', {}, el('span', { clase: 'leyenda-muestra linea', attrs: { 'aria-hidden': 'true' } }), 'Palabras por minuto (eje derecho)'));
  }
  leyenda.append('Tus últimas partidas, de la más antigua (izquierda) a la más reciente (derecha).', lista);
}

// ---------------------------------------------------------------- data

// A result that is not (or no longer) on the public boards says so; only its player sees it.
const ESTADOS = {
  en_revision: '(en revisión: no cuenta todavía en las clasificaciones)',
  anulada: '(anulada por un administrador)',
};

/** A link to a game's replay (/repeticion/<id>), named by the game's date for screen readers. */
function enlaceRepeticion(partida) {
  const attrs = { href: `/repeticion/${encodeURIComponent(partida.id)}`, 'aria-label': `Ver la repetición de la partida del ${fechaHora(partida.fecha)}` };
  return el('a', { clase: 'enlace-repeticion', texto: 'Ver repetición', attrs });
}

function pintarTablaPartidas(partidas) {
  const tabla = $('tabla-partidas');
  if (!tabla) return;
  const cuerpo = tabla.tBodies[0];
  vaciar(cuerpo);
  for (const p of partidas) {
    cuerpo.append(
      el(
        'tr',
        {},
        // The game's own page (/resultado/<id>): to share it, or to see a held one; and its replay.
        el(
          'td',
          {},
          el('a', { texto: fechaHora(p.fecha), attrs: { href: `/resultado/${encodeURIComponent(p.id)}` } }),
          ' · ',
          enlaceRepeticion(p),
        ),
        el(
          'td',
          { clase: 'num' },
          numero(p.puntaje),
          ESTADOS[p.estado] ? el('span', { clase: 'etiqueta-estado', texto: ` ${ESTADOS[p.estado]}` }) : null,
        ),
        el('td', { clase: 'num', texto: decimal(p.wpm) }),
        el('td', { clase: 'num', texto: porcentaje(p.precision) }),
        el('td', { texto: IDIOMAS[p.idioma] || p.idioma || '—' }),
      ),
    );
  }
  if (partidas.length === 0) {
    cuerpo.append(el('tr', {}, el('td', { texto: 'Sin partidas todavía.', attrs: { colspan: 5 } })));
  }
}

function pintarUsuario(user, bio) {
  if (user) {
    $('perfil-nombre-titulo').textContent = user.nombre;
    const avatar = $('avatar');
    if (avatar) avatar.textContent = ([...String(user.nombre || '?')][0] || '?').toUpperCase();
    const email = $('perfil-email');
    if (email) email.textContent = user.email;
    const fecha = $('perfil-fecha');
    if (fecha && user.fecha_registro) {
      fecha.dateTime = user.fecha_registro;
      fecha.textContent = fechaLarga(user.fecha_registro);
    }
    for (const nodo of document.querySelectorAll('.nav-nombre')) nodo.textContent = user.nombre;
  }
  $('perfil-bio').textContent = bio || '';
}

function pintarStats(stats) {
  const contenedor = $('perfil-stats');
  if (!contenedor || !stats) return;
  const formatos = {
    puntaje_maximo: numero,
    posicion_ranking: (v) => (v === null || v === undefined ? '—' : `${v}.º`),
    partidas_jugadas: numero,
    puntaje_promedio: decimal,
    fecha_ultimo_juego: (v) => (v ? fechaHora(v) : 'Nunca'),
  };
  for (const dd of contenedor.querySelectorAll('[data-stat]')) {
    const clave = dd.dataset.stat;
    dd.textContent = (formatos[clave] || numero)(stats[clave]);
  }
}

function actualizarContadorBio() {
  const campo = $('perfil-bio-campo');
  const contador = $('perfil-bio-contador');
  const n = largo(campo.value);
  contador.textContent = `${n} / ${MAX_BIO} caracteres`;
  contador.classList.toggle('error', n > MAX_BIO);
}

async function cargar() {
  const estado = $('perfil-estado');
  try {
    const [perfil, stats] = await Promise.all([
      api('/api/perfil'),
      api('/api/stats/usuario').catch((error) => {
        if (error.status === 401) throw error;
        return null; // the stats service may be down: the rest of the page still works
      }),
    ]);
    pintarUsuario(perfil.user, perfil.bio);
    $('perfil-nombre').value = (perfil.user && perfil.user.nombre) || '';
    $('perfil-bio-campo').value = perfil.bio || '';
    actualizarContadorBio();
    const partidas = Array.isArray(perfil.partidas) ? perfil.partidas.slice(0, 20) : [];
    dibujarGrafico(partidas);
    window.addEventListener('resize', () => dibujarGrafico(partidas));
    pintarTablaPartidas(partidas);
    if (stats) pintarStats(stats.stats);
    estado.textContent = stats ? '' : 'Las estadísticas no están disponibles ahora mismo.';
  } catch (error) {
    if (error.status === 401) {
      irALogin('/perfil');
      return;
    }
    estado.textContent = `No se pudo cargar tu perfil. ${error.error || ''}`.trim();
  }
}

function iniciarFormulario() {
  const form = $('form-perfil');
  const error = $('perfil-error');
  const nombre = $('perfil-nombre');
  const bio = $('perfil-bio-campo');
  const boton = form.querySelector('button[type="submit"]');
  bio.addEventListener('input', actualizarContadorBio);

  form.addEventListener('submit', async (evento) => {
    evento.preventDefault();
    error.textContent = '';
    nombre.removeAttribute('aria-invalid');
    bio.removeAttribute('aria-invalid');
    const valores = { nombre: nombre.value.trim(), bio: bio.value };
    // Friendly early checks; the server has the last word.
    if (largo(valores.nombre) < 1 || largo(valores.nombre) > MAX_NOMBRE) {
      error.textContent = `El nombre debe tener entre 1 y ${MAX_NOMBRE} caracteres.`;
      nombre.setAttribute('aria-invalid', 'true');
      nombre.focus();
      return;
    }
    if (largo(valores.bio) > MAX_BIO) {
      error.textContent = `La biografía no puede superar los ${MAX_BIO} caracteres.`;
      bio.setAttribute('aria-invalid', 'true');
      bio.focus();
      return;
    }
    boton.disabled = true;
    try {
      const respuesta = await api('/api/perfil', { method: 'POST', body: valores });
      pintarUsuario(respuesta.user, respuesta.bio);
      if (respuesta.user) nombre.value = respuesta.user.nombre;
      if (typeof respuesta.bio === 'string') bio.value = respuesta.bio;
      actualizarContadorBio();
      toast('Perfil actualizado.', 'success');
    } catch (err) {
      if (err.status === 401) {
        irALogin('/perfil');
        return;
      }
      error.textContent = err.error || 'No se pudo guardar el perfil.';
    } finally {
      boton.disabled = false;
    }
  });
}

if ($('form-perfil')) {
  iniciarFormulario();
  cargar();
}
