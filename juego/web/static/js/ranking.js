// Ranking page: the boards in tabs (Hoy, Semana, Siempre, Desafío diario) with a language
// filter. #tabla-ranking shows the board's first rows (one per player, best first); the
// signed-in player's row is highlighted, and when it is outside them their position and
// neighbours (from /api/ranking/yo) follow in #ranking-propio. Each row's score links to
// the result's replay when the board names its partida.
//
// The tabs follow the WAI-ARIA tabs pattern: one tab in the Tab order, arrows (and
// Home/End) move between them and select at once.

import { $, api, el, numero, plural, usuarioActual, vaciar } from './common.js';

const LIMITE = 100;

const TABLEROS = {
  dia: {
    consulta: { periodo: 'dia' },
    explicacion: 'Los mejores resultados de hoy (día UTC): cuenta la mejor partida de cada jugador.',
    titulo: 'Ranking de hoy',
    vacio: 'Hoy todavía no ha jugado nadie. ¡Sé el primero!',
  },
  semana: {
    consulta: { periodo: 'semana' },
    explicacion:
      'Los mejores resultados de esta semana (de lunes a domingo, UTC): cuenta la mejor partida de cada jugador.',
    titulo: 'Ranking de la semana',
    vacio: 'Esta semana todavía no ha jugado nadie. ¡Sé el primero!',
  },
  siempre: {
    consulta: { periodo: 'siempre' },
    explicacion: 'Los mejores récords personales de siempre.',
    titulo: 'Ranking de siempre',
    vacio: 'Todavía no ha jugado nadie. ¡Sé el primero!',
  },
  diario: {
    consulta: { modo: 'diario' },
    explicacion:
      'El desafío diario de hoy: las mismas palabras para todos y un solo intento por jugador.',
    titulo: 'Ranking del desafío diario de hoy',
    vacio: 'Nadie ha jugado todavía el desafío de hoy. ¡Sé el primero!',
  },
};
const EMPATES = ' A igualdad de puntos, va delante quien lo consiguió antes.';
const IDIOMAS = { es: 'español', en: 'inglés' };

const pestanas = [...document.querySelectorAll('#pestanas-ranking [role="tab"]')];
const filtro = $('filtro-idioma');
let peticion = 0;

function nombreDe(pestana) {
  return pestana.dataset.modo || pestana.dataset.periodo;
}

function pestanaActual() {
  return pestanas.find((p) => p.getAttribute('aria-selected') === 'true') || pestanas[2];
}

function consulta(tablero, idioma, extra = {}) {
  const parametros = new URLSearchParams({ ...tablero.consulta, ...extra });
  if (idioma) parametros.set('idioma', idioma);
  return parametros.toString();
}

function fila(datos, yo) {
  const esYo = Boolean(yo && datos.user_id === yo.id);
  const puntos = numero(datos.puntaje_maximo);
  const celdaPuntos = el('td', { clase: 'num' });
  if (typeof datos.partida_id === 'string' && datos.partida_id) {
    celdaPuntos.append(
      el('a', {
        texto: puntos,
        attrs: {
          href: `/repeticion/${encodeURIComponent(datos.partida_id)}`,
          'aria-label': `${puntos} puntos: ver la repetición de la partida de ${datos.nombre}`,
        },
      }),
    );
  } else {
    celdaPuntos.textContent = puntos;
  }
  const tr = el(
    'tr',
    { clase: esYo ? 'yo' : '' },
    el('td', { clase: 'num' }, el('span', { clase: `medalla medalla-${datos.posicion}`, texto: String(datos.posicion) })),
    el('td', { clase: 'celda-nombre', texto: datos.nombre }),
    celdaPuntos,
  );
  tr.dataset.userId = String(datos.user_id);
  tr.dataset.posicion = String(datos.posicion);
  if (esYo) tr.setAttribute('aria-current', 'true');
  return tr;
}

function ordenadas(lista) {
  return Array.isArray(lista) ? [...lista].sort((a, b) => a.posicion - b.posicion) : [];
}

function mostrarPosicion(tablero, idioma, mia) {
  const destino = $('mi-posicion');
  if (!destino) return;
  if (mia instanceof Error) {
    destino.textContent = `No se pudo calcular tu posición. ${mia.error || ''}`.trim();
    return;
  }
  const yo = usuarioActual();
  const propia = ordenadas(mia.ranking).find((f) => yo && f.user_id === yo.id);
  const enIdioma = idioma ? ` en ${IDIOMAS[idioma]}` : '';
  if (mia.posicion === null || mia.posicion === undefined || !propia) {
    destino.textContent = `Aún no tienes posición en esta clasificación${enIdioma}: juega una partida para entrar.`;
    return;
  }
  destino.textContent =
    `Tu posición: ${mia.posicion}.º${enIdioma} · Tu mejor resultado aquí: ${plural(propia.puntaje_maximo, 'punto', 'puntos')}`;
}

async function cargar() {
  const mia = ++peticion;
  const pestana = pestanaActual();
  const tablero = TABLEROS[nombreDe(pestana)];
  const idioma = filtro.value;
  const cuerpo = $('tabla-ranking').tBodies[0];
  const propio = $('ranking-propio');
  const estado = $('ranking-estado');
  const boton = $('actualizar-ranking');
  const yo = usuarioActual();
  $('ranking-explicacion').textContent = tablero.explicacion + EMPATES;
  $('ranking-titulo').textContent =
    `${tablero.titulo}${idioma ? ` (${IDIOMAS[idioma]})` : ''}, de mejor a peor`;
  $('panel-ranking').setAttribute('aria-labelledby', pestana.id);
  if (boton) boton.disabled = true;
  estado.textContent = 'Cargando ranking…';
  const alrededor = yo
    ? api(`/api/ranking/yo?${consulta(tablero, idioma)}`).catch((error) => error)
    : Promise.resolve(null);
  try {
    const datos = await api(`/api/ranking?${consulta(tablero, idioma, { limit: LIMITE })}`);
    const vecinos = await alrededor;
    if (mia !== peticion) return; // another tab or language was chosen meanwhile
    const ranking = ordenadas(datos.ranking);
    vaciar(cuerpo);
    cuerpo.append(...ranking.map((f) => fila(f, yo)));
    vaciar(propio);
    propio.hidden = true;
    if (vecinos && !(vecinos instanceof Error)) {
      const ultima = ranking.length ? ranking[ranking.length - 1].posicion : 0;
      const fuera = ordenadas(vecinos.ranking).filter((f) => f.posicion > ultima);
      if (vecinos.posicion && vecinos.posicion > ultima && fuera.length) {
        const separador = el('tr', { clase: 'separador' }, el('td', { texto: '…', attrs: { colspan: 3 } }));
        propio.append(separador, ...fuera.map((f) => fila(f, yo)));
        propio.hidden = false;
      }
    }
    if (vecinos !== null) mostrarPosicion(tablero, idioma, vecinos);
    estado.textContent = ranking.length === 0 ? tablero.vacio : '';
  } catch (error) {
    if (mia !== peticion) return;
    estado.textContent = `No se pudo cargar el ranking. ${error.error || ''}`.trim();
  } finally {
    if (boton && mia === peticion) boton.disabled = false;
  }
}

function recordar() {
  const parametros = new URLSearchParams();
  const nombre = nombreDe(pestanaActual());
  if (nombre !== 'siempre') parametros.set('tablero', nombre);
  if (filtro.value) parametros.set('idioma', filtro.value);
  const busqueda = parametros.toString();
  history.replaceState(null, '', busqueda ? `?${busqueda}` : location.pathname);
}

function elegir(pestana, { foco = false } = {}) {
  for (const p of pestanas) {
    const elegida = p === pestana;
    p.setAttribute('aria-selected', elegida ? 'true' : 'false');
    p.tabIndex = elegida ? 0 : -1;
  }
  if (foco) pestana.focus();
  recordar();
  cargar();
}

for (const pestana of pestanas) {
  pestana.addEventListener('click', () => elegir(pestana));
  pestana.addEventListener('keydown', (evento) => {
    const i = pestanas.indexOf(pestana);
    const destinos = {
      ArrowRight: pestanas[(i + 1) % pestanas.length],
      ArrowLeft: pestanas[(i - 1 + pestanas.length) % pestanas.length],
      Home: pestanas[0],
      End: pestanas[pestanas.length - 1],
    };
    const destino = destinos[evento.key];
    if (!destino) return;
    evento.preventDefault();
    elegir(destino, { foco: true });
  });
}
filtro.addEventListener('change', () => {
  recordar();
  cargar();
});
$('actualizar-ranking')?.addEventListener('click', cargar);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') cargar();
});

// The board in the address (?tablero=dia|semana|diario&idioma=es|en), else all time.
const inicial = new URLSearchParams(location.search);
if (IDIOMAS[inicial.get('idioma')]) filtro.value = inicial.get('idioma');
const elegidaAlEntrar = pestanas.find((p) => nombreDe(p) === inicial.get('tablero'));
elegir(elegidaAlEntrar || pestanaActual());
