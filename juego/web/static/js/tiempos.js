// The result's per-word times (/juego, #resultado-tiempos): an inline SVG bar chart, the
// same data as a table (for keyboards and screen readers: the chart is one image to them,
// with a title and a one-sentence description), and the slowest words.
//
// The chart is drawn at the size it is shown (one SVG unit = one CSS pixel), so its text
// stays 12 px on a phone; it is drawn again when the window changes size.

import { decimal, el, numero, plural, vaciar } from './common.js';

const SVG = 'http://www.w3.org/2000/svg';
const ALTO = 200;
const MARGEN = { arriba: 14, derecha: 10, abajo: 30, izquierda: 44 };
/** Least room (px) between two labels of the horizontal axis. */
const HUECO_ETIQUETA = 30;
const LENTAS = 5;

function svg(tag, attrs = {}, texto) {
  const nodo = document.createElementNS(SVG, tag);
  for (const [nombre, valor] of Object.entries(attrs)) nodo.setAttribute(nombre, String(valor));
  if (texto !== undefined) nodo.textContent = String(texto);
  return nodo;
}

/** A round axis maximum (1, 2, 2.5, 5 × 10^k) at or above `valor`. */
export function maximoRedondo(valor) {
  if (!(valor > 0)) return 1;
  const potencia = 10 ** Math.floor(Math.log10(valor));
  for (const paso of [1, 2, 2.5, 5, 10]) {
    if (paso * potencia >= valor) return paso * potencia;
  }
  return 10 * potencia;
}

function segundos(ms) {
  return `${decimal(ms / 1000)} s`;
}

/** The ok words, slowest first (the first shown first on a tie). */
export function masLentas(historial, cuantas = LENTAS) {
  return historial
    .map((p, i) => ({ ...p, n: i + 1 }))
    .filter((p) => p.ok)
    .sort((a, b) => b.ms - a.ms || a.n - b.n)
    .slice(0, cuantas);
}

/** One sentence that says what the chart shows. */
export function resumen(historial) {
  const acertadas = historial.filter((p) => p.ok).length;
  const falladas = historial.length - acertadas;
  const partes = [
    `${plural(historial.length, 'palabra', 'palabras')}: ${plural(acertadas, 'acertada', 'acertadas')} y ` +
      `${plural(falladas, 'fallada', 'falladas')}.`,
  ];
  const [lenta] = masLentas(historial, 1);
  if (acertadas > 0) {
    const media = historial.filter((p) => p.ok).reduce((suma, p) => suma + p.ms, 0) / acertadas;
    partes.push(`Media de las acertadas: ${segundos(media)}; la más lenta, «${lenta.palabra}», ${segundos(lenta.ms)}.`);
  }
  return partes.join(' ');
}

function dibujarGrafico(lienzo, historial) {
  vaciar(lienzo);
  const ancho = Math.max(280, Math.round(lienzo.clientWidth || 600));
  const w = ancho - MARGEN.izquierda - MARGEN.derecha;
  const h = ALTO - MARGEN.arriba - MARGEN.abajo;
  const grafico = svg('svg', {
    id: 'grafico-tiempos-svg',
    class: 'grafico-svg',
    viewBox: `0 0 ${ancho} ${ALTO}`,
    width: ancho,
    height: ALTO,
    role: 'img',
    'aria-labelledby': 'grafico-tiempos-titulo grafico-tiempos-desc',
  });
  grafico.append(
    svg('title', { id: 'grafico-tiempos-titulo' }, 'Tiempo de cada palabra'),
    svg('desc', { id: 'grafico-tiempos-desc' }, resumen(historial)),
  );
  const maximo = maximoRedondo(Math.max(...historial.map((p) => p.ms)) / 1000);
  const y = (s) => MARGEN.arriba + h - (s / maximo) * h;
  // Two or three round ticks (0, 1, 2 s for a 2.5 s axis): labels of one decimal at most.
  const paso = maximoRedondo(maximo / 3);
  for (let k = 0; k * paso <= maximo + 1e-9; k += 1) {
    const valor = k * paso;
    const yy = y(valor).toFixed(1);
    grafico.append(
      svg('line', { x1: MARGEN.izquierda, x2: MARGEN.izquierda + w, y1: yy, y2: yy, class: k === 0 ? 'eje' : 'rejilla' }),
      svg('text', { x: MARGEN.izquierda - 6, y: Number(yy) + 4, 'text-anchor': 'end' }, `${decimal(valor)} s`),
    );
  }
  const hueco = w / historial.length;
  const anchoBarra = Math.max(1, Math.min(28, hueco * 0.7));
  const cadaCuantas = Math.max(1, Math.ceil(HUECO_ETIQUETA / hueco));
  historial.forEach((p, i) => {
    const cx = MARGEN.izquierda + hueco * i + hueco / 2;
    const alto = Math.max(1, (p.ms / 1000 / maximo) * h);
    const barra = svg('rect', {
      x: (cx - anchoBarra / 2).toFixed(1),
      y: (MARGEN.arriba + h - alto).toFixed(1),
      width: anchoBarra.toFixed(1),
      height: alto.toFixed(1),
      rx: Math.min(3, anchoBarra / 3).toFixed(1),
      class: p.ok ? 'barra' : 'barra fallada',
    });
    barra.append(svg('title', {}, `${i + 1}. ${p.palabra}: ${segundos(p.ms)} (${p.ok ? 'acertada' : 'fallada'})`));
    grafico.append(barra);
    if (i === 0 || (i + 1) % cadaCuantas === 0) {
      grafico.append(svg('text', { x: cx.toFixed(1), y: MARGEN.arriba + h + 18, 'text-anchor': 'middle' }, i + 1));
    }
  });
  lienzo.append(grafico);
}

function pintarTabla(tabla, historial, idioma) {
  const cuerpo = tabla.tBodies[0];
  vaciar(cuerpo);
  historial.forEach((p, i) => {
    cuerpo.append(
      el(
        'tr',
        { clase: p.ok ? '' : 'fallada' },
        el('td', { clase: 'num', texto: numero(i + 1) }),
        el('td', { texto: p.palabra, attrs: { lang: idioma } }),
        el('td', { clase: 'num', texto: segundos(p.ms) }),
        el('td', { clase: 'num', texto: segundos(p.limite) }),
        el('td', { texto: p.ok ? 'Acertada' : 'Fallada' }),
      ),
    );
  });
}

function pintarLentas(lista, historial, idioma) {
  vaciar(lista);
  const lentas = masLentas(historial);
  for (const p of lentas) {
    lista.append(
      el(
        'li',
        {},
        el('span', { clase: 'lenta-palabra', texto: p.palabra, attrs: { lang: idioma } }),
        ' ',
        el('span', { clase: 'lenta-tiempo', texto: segundos(p.ms) }),
      ),
    );
  }
  const caja = lista.closest('section') || lista;
  caja.hidden = lentas.length === 0;
}

/**
 * Show the words of a game: `historial` has one {palabra, ms, limite, ok} per word that
 * ended, in order.
 */
export function pintarTiempos({ lienzo, tabla, lentas }, historial, idioma = 'es') {
  if (lienzo) dibujarGrafico(lienzo, historial);
  if (tabla) pintarTabla(tabla, historial, idioma);
  if (lentas) pintarLentas(lentas, historial, idioma);
}
