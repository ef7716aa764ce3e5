// Live races (/carrera): a WebSocket to /api/carrera/ws carries the room (its racers and
// their progress, pushed by the server on every change) and the race's partida, handed
// over when the server's countdown ends. The words are typed as in /juego (the same
// rules and evidence: one event per word, with its keystroke times); the result is saved
// with POST /api/guardar_puntaje like any partida, and then the room is told ("fin"): the
// server reads the verified result, never a claim of this page.
//
// While typing, the page reports how far it is ({tipo: "progreso", palabra, letras}) at
// most every 100 ms (10 a second). A dropped socket reconnects and rejoins the room; the
// game goes on meanwhile.

import { $, api, decimal, el, irALogin, plural, vaciar } from './common.js';

const INTERVALO_PROGRESO = 100;
const REINTENTO_MS = 500;

const dom = {};
let ws = null;
let sala = null; // the room's snapshot
let yo = null;
let codigo = null;
let juego = null;
let progresoPendiente = false;
let ultimoEnvio = 0;
let temporizadorProgreso = null;
let cerrada = false;
let reloj = null;
// The results the history and the board were last read for (a result that comes after
// the end reads them again), and the latest read of each (an older answer never
// overwrites a newer one).
let resultadosLeidos = null;
const lecturas = { historial: 0, ganadores: 0 };

function largo(palabra) {
  return [...palabra.normalize('NFC')].length;
}

function limiteDe(i, palabra, reglas) {
  const nivel = 1 + Math.floor(i / reglas.palabras_por_nivel);
  const porLetra = Math.max(reglas.ms_minimo_por_letra, reglas.ms_por_letra - reglas.paso_nivel * (nivel - 1));
  return Math.round(reglas.ms_base + largo(palabra) * porLetra);
}

// ---------------------------------------------------------------- socket

function conectar() {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/carrera/ws`;
  ws = new WebSocket(url);
  ws.addEventListener('open', () => {
    dom.buscar.disabled = false;
    dom.crear.disabled = false;
    if (codigo) enviar({ tipo: 'unirse', sala: codigo });
    else if (dom.raiz.dataset.sala) enviar({ tipo: 'unirse', sala: dom.raiz.dataset.sala });
  });
  ws.addEventListener('message', (evento) => {
    let mensaje;
    try {
      mensaje = JSON.parse(evento.data);
    } catch {
      return;
    }
    recibir(mensaje);
  });
  ws.addEventListener('close', () => {
    ws = null;
    if (cerrada) return;
    dom.raiz.dataset.conexion = 'reconectando';
    setTimeout(conectar, REINTENTO_MS);
  });
}

function enviar(mensaje) {
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify(mensaje));
    return true;
  }
  return false;
}

function recibir(mensaje) {
  dom.raiz.dataset.conexion = 'abierta';
  if (mensaje.tipo === 'sala') {
    yo = mensaje.yo;
    mostrarSala(mensaje.sala);
  } else if (mensaje.tipo === 'partida') {
    empezar(mensaje.partida);
  } else if (mensaje.tipo === 'error') {
    dom.error.textContent = mensaje.message || 'Error';
    if (mensaje.code === 'resultado_no_guardado' && juego && juego.guardado) {
      setTimeout(() => enviar({ tipo: 'fin' }), REINTENTO_MS);
    }
  }
}

// ---------------------------------------------------------------- the room

const ESTADOS = {
  corriendo: 'En carrera',
  desconectado: 'Desconectado…',
  terminado: 'Meta',
  fuera: 'Fuera',
};

/** A racer's state as shown: before the start, a racer is waiting, not racing yet. */
function estadoDe(corredor, datos) {
  if (corredor.estado === 'corriendo' && datos.estado === 'espera') return 'Esperando';
  if (corredor.estado === 'corriendo' && datos.estado === 'cuenta') return 'En la salida';
  return ESTADOS[corredor.estado] || corredor.estado;
}

function mostrarSala(datos) {
  sala = datos;
  codigo = datos.codigo;
  dom.error.textContent = '';
  dom.controles.hidden = true;
  dom.sala.hidden = false;
  dom.raiz.dataset.estado = datos.estado;
  dom.raiz.dataset.sala = datos.codigo;
  // The room's address: a reload (or a link) comes back into it.
  const ruta = `/carrera/${encodeURIComponent(datos.codigo)}`;
  if (location.pathname !== ruta) history.replaceState(null, '', ruta);
  if (datos.privada) {
    const enlace = `${location.origin}${ruta}`;
    dom.enlace.href = enlace;
    dom.enlace.textContent = enlace;
    dom.enlaceCaja.hidden = false;
  }
  dom.empezar.hidden = !(datos.privada && datos.estado === 'espera' && datos.anfitrion === yo);
  const textos = {
    espera: datos.privada ? 'Esperando a más jugadores…' : 'Buscando rivales…',
    cuenta: 'La carrera va a empezar',
    carrera: '¡Ya!',
    terminada: 'Carrera terminada',
  };
  dom.estado.textContent = `${textos[datos.estado] || ''} · ${plural(datos.corredores.length, 'jugador', 'jugadores')}`;
  cuentaAtras(datos);
  pintarCorredores(datos);
  if (datos.estado === 'terminada') mostrarResultado(datos);
}

function cuentaAtras(datos) {
  clearInterval(reloj);
  if (datos.estado !== 'cuenta' || datos.faltan_ms === null) {
    dom.cuenta.textContent = '';
    return;
  }
  const fin = performance.now() + datos.faltan_ms;
  const pintar = () => {
    const s = Math.max(0, Math.ceil((fin - performance.now()) / 1000));
    dom.cuenta.textContent = `Empieza en ${s}…`;
  };
  pintar();
  reloj = setInterval(pintar, 200);
}

function pintarCorredores(datos) {
  const filas = new Map([...dom.corredores.querySelectorAll('.corredor')].map((f) => [f.dataset.id, f]));
  for (const corredor of datos.corredores) {
    const id = String(corredor.id);
    let fila = filas.get(id);
    if (!fila) {
      fila = el(
        'li',
        { clase: 'corredor' },
        el('span', { clase: 'corredor-nombre' }),
        el('span', { clase: 'corredor-barra' }, el('span', { clase: 'corredor-relleno' })),
        el('span', { clase: 'corredor-estado' }),
      );
      fila.dataset.id = id;
      dom.corredores.append(fila);
    }
    filas.delete(id);
    fila.classList.toggle('corredor-propio', corredor.id === yo);
    fila.dataset.progreso = String(Math.round(corredor.progreso));
    fila.dataset.estado = corredor.estado;
    fila.querySelector('.corredor-nombre').textContent = corredor.nombre;
    fila.querySelector('.corredor-relleno').style.width = `${corredor.progreso}%`;
    fila.querySelector('.corredor-estado').textContent = estadoDe(corredor, datos);
    fila.setAttribute('aria-label', `${corredor.nombre}: ${Math.round(corredor.progreso)} %`);
  }
  for (const fila of filas.values()) fila.remove();
}

function mostrarResultado(datos) {
  // The owner ends a race only once every result in it is stored, and shows a later
  // one once stored: read then, the player's races have this one.
  const resultados = datos.corredores.map((c) => `${c.id}:${c.estado}:${c.puntaje}`).join(' ');
  if (resultados !== resultadosLeidos) {
    resultadosLeidos = resultados;
    cargarHistorial();
    cargarGanadores();
  }
  vaciar(dom.orden);
  (datos.orden || []).forEach((id) => {
    const corredor = datos.corredores.find((c) => c.id === id);
    if (!corredor) return;
    const cifras = [
      `${decimal(corredor.tiempo_ms / 1000)} s`,
      plural(corredor.puntaje, 'punto', 'puntos'),
      `${decimal(corredor.wpm)} ppm`,
    ];
    const detalle = corredor.estado === 'terminado' ? ` — ${cifras.join(', ')}` : ' — no terminó';
    const item = el('li', { clase: 'resultado-corredor', texto: `${corredor.nombre}${detalle}` });
    item.dataset.id = String(id);
    dom.orden.append(item);
  });
  dom.resultado.hidden = false;
  dom.tablero.hidden = true;
}

// ---------------------------------------------------------------- typing

function empezar(partida) {
  if (juego && juego.partida.id === partida.id) return; // back after a reconnect: go on
  const reglas = partida.reglas;
  juego = {
    partida,
    reglas,
    palabras: partida.palabras.map((p) => p.normalize('NFC')),
    vidas: Number(partida.vidas),
    eventos: [],
    i: 0,
    tPrev: 0,
    teclas: [],
    errores: 0,
    eraPrefijo: true,
    inicio: performance.now(),
    temporizador: null,
    guardado: false,
    terminado: false,
  };
  dom.tablero.hidden = false;
  dom.total.textContent = String(juego.palabras.length);
  dom.palabra.lang = partida.idioma || 'es';
  dom.entrada.disabled = false;
  dom.entrada.value = '';
  dom.entrada.focus();
  mostrarPalabra(0);
}

function mostrarPalabra(i) {
  const j = juego;
  if (i >= j.palabras.length) {
    terminar();
    return;
  }
  j.i = i;
  j.palabra = j.palabras[i];
  j.letras = largo(j.palabra);
  j.limiteT = j.tPrev + limiteDe(i, j.palabra, j.reglas);
  j.teclas = [];
  j.errores = 0;
  j.eraPrefijo = true;
  dom.entrada.value = '';
  dom.palabra.textContent = j.palabra;
  const siguiente = j.palabras[i + 1];
  dom.siguiente.textContent = siguiente ? `Siguiente: ${siguiente}` : 'Última palabra';
  dom.numero.textContent = String(i + 1);
  dom.vidas.textContent = String(j.vidas);
  clearTimeout(j.temporizador);
  j.temporizador = setTimeout(alVencer, Math.max(0, j.inicio + j.limiteT - performance.now()) + 4);
  avisarProgreso();
}

function alVencer() {
  const j = juego;
  if (!j || j.terminado) return;
  if (performance.now() - j.inicio >= j.limiteT) fallar();
  else j.temporizador = setTimeout(alVencer, j.inicio + j.limiteT - performance.now() + 4);
}

function fallar() {
  const j = juego;
  const t = j.limiteT;
  j.eventos.push({ t, ok: false, errores: j.errores, teclas: j.teclas.map((k) => Math.min(k, t - j.tPrev)) });
  j.tPrev = t;
  j.vidas -= 1;
  if (j.vidas <= 0) {
    terminar();
    return;
  }
  mostrarPalabra(j.i + 1);
}

function alEscribir() {
  const j = juego;
  if (!j || j.terminado) return;
  const ahora = performance.now();
  if (ahora - j.inicio > j.limiteT) {
    fallar();
    return;
  }
  const previa = j.teclas.length ? j.teclas[j.teclas.length - 1] : 0;
  if (j.teclas.length < 1000) j.teclas.push(Math.max(previa, Math.round(ahora - j.inicio) - j.tPrev, 0));
  const valor = dom.entrada.value.normalize('NFC');
  if (valor === j.palabra) {
    let t = Math.min(Math.round(ahora - j.inicio), j.limiteT);
    t = Math.max(t, j.tPrev + Math.ceil(j.reglas.ms_humano_por_letra * j.letras));
    const teclas = j.teclas.map((k) => Math.min(k, t - j.tPrev));
    if (teclas.length === 0) teclas.push(t - j.tPrev);
    j.eventos.push({ t, ok: true, errores: j.errores, teclas });
    j.tPrev = t;
    mostrarPalabra(j.i + 1);
    return;
  }
  const esPrefijo = j.palabra.normalize('NFD').startsWith(dom.entrada.value.normalize('NFD'));
  if (!esPrefijo && j.eraPrefijo) j.errores += 1;
  j.eraPrefijo = esPrefijo;
  dom.entrada.classList.toggle('con-error', !esPrefijo);
  avisarProgreso();
}

function letrasBien() {
  const j = juego;
  const escritas = [...dom.entrada.value.normalize('NFC')];
  const letras = [...j.palabra];
  let k = 0;
  while (k < escritas.length && k < letras.length && escritas[k] === letras[k]) k += 1;
  return k;
}

/** Report the progress, at most every INTERVALO_PROGRESO ms (the last change always goes). */
function avisarProgreso() {
  if (!juego) return;
  const espera = ultimoEnvio + INTERVALO_PROGRESO - performance.now();
  if (espera > 0) {
    if (!progresoPendiente) {
      progresoPendiente = true;
      temporizadorProgreso = setTimeout(() => {
        progresoPendiente = false;
        avisarProgreso();
      }, espera);
    }
    return;
  }
  ultimoEnvio = performance.now();
  const terminado = juego.terminado || juego.i >= juego.palabras.length;
  enviar({ tipo: 'progreso', palabra: terminado ? juego.palabras.length : juego.i, letras: terminado ? 0 : letrasBien() });
}

async function terminar() {
  const j = juego;
  if (j.terminado) return;
  j.terminado = true;
  clearTimeout(j.temporizador);
  clearTimeout(temporizadorProgreso);
  dom.entrada.disabled = true;
  dom.entrada.value = '';
  dom.palabra.textContent = '';
  dom.siguiente.textContent = 'Guardando tu resultado…';
  if (j.vidas > 0) {
    ultimoEnvio = 0;
    avisarProgreso();
  }
  try {
    const respuesta = await api('/api/guardar_puntaje', {
      method: 'POST',
      body: { partida_id: j.partida.id, eventos: j.eventos },
    });
    j.guardado = true;
    dom.propio.textContent = respuesta.message || '';
    dom.siguiente.textContent = 'Resultado guardado. Esperando al resto de corredores…';
    dom.raiz.dataset.guardado = 'si';
    enviar({ tipo: 'fin' });
  } catch (error) {
    if (error.status === 401) {
      irALogin(location.pathname);
      return;
    }
    dom.error.textContent = error.error || error.message || 'No se pudo guardar el resultado.';
  }
}

// ---------------------------------------------------------------- history and board

async function cargarHistorial() {
  const lectura = ++lecturas.historial;
  try {
    const { carreras } = await api('/api/carreras?limit=10');
    if (lectura !== lecturas.historial) return;
    vaciar(dom.misCarreras);
    for (const c of carreras) {
      const lugar = c.posicion
        ? `${c.posicion}.º de ${c.corredores}`
        : `no terminó (${plural(c.corredores, 'corredor', 'corredores')})`;
      const cifras = c.puntaje !== null ? ` · ${plural(c.puntaje, 'punto', 'puntos')} · ${decimal(c.wpm)} ppm` : '';
      dom.misCarreras.append(el('li', { texto: `${lugar}${cifras}` }));
    }
    dom.misCarrerasVacio.hidden = carreras.length > 0;
  } catch {
    // The page works without it.
  }
}

async function cargarGanadores() {
  const lectura = ++lecturas.ganadores;
  try {
    const { ganadores } = await api(`/api/carreras/ganadores?periodo=${encodeURIComponent(dom.periodo.value)}`);
    if (lectura !== lecturas.ganadores) return;
    vaciar(dom.ganadores);
    for (const g of ganadores) {
      const item = el('li', { texto: `${g.nombre}: ${plural(g.victorias, 'victoria', 'victorias')}` });
      item.dataset.id = String(g.user_id);
      dom.ganadores.append(item);
    }
  } catch {
    // The page works without it.
  }
}

// ---------------------------------------------------------------- start

function iniciar() {
  dom.raiz = $('carrera');
  if (!dom.raiz) return;
  dom.controles = $('controles-carrera');
  dom.idioma = $('idioma');
  dom.buscar = $('buscar-carrera');
  dom.crear = $('crear-sala');
  dom.sala = $('sala');
  dom.estado = $('sala-estado');
  dom.enlace = $('sala-enlace');
  dom.enlaceCaja = $('sala-enlace-caja');
  dom.empezar = $('empezar-carrera');
  dom.cuenta = $('cuenta-atras');
  dom.corredores = $('corredores');
  dom.tablero = $('tablero');
  dom.palabra = $('palabra-actual');
  dom.siguiente = $('siguiente');
  dom.vidas = $('vidas');
  dom.numero = $('numero-palabra');
  dom.total = $('total-palabras');
  dom.entrada = $('entrada');
  dom.resultado = $('resultado-carrera');
  dom.orden = $('orden-carrera');
  dom.propio = $('resultado-propio');
  dom.error = $('carrera-error');
  dom.misCarreras = $('mis-carreras');
  dom.misCarrerasVacio = $('mis-carreras-vacio');
  dom.ganadores = $('ganadores-carrera');
  dom.periodo = $('periodo-ganadores');
  dom.periodo.addEventListener('change', cargarGanadores);
  cargarHistorial();
  cargarGanadores();
  dom.buscar.disabled = true;
  dom.crear.disabled = true;
  dom.buscar.addEventListener('click', () => enviar({ tipo: 'buscar', idioma: dom.idioma.value || 'es' }));
  dom.crear.addEventListener('click', () => enviar({ tipo: 'crear', idioma: dom.idioma.value || 'es' }));
  dom.empezar.addEventListener('click', () => enviar({ tipo: 'empezar' }));
  dom.entrada.addEventListener('input', alEscribir);
  // The network is gone: close the socket now (it would hang until a timeout); it
  // reconnects, and rejoins the room, once the network is back.
  window.addEventListener('offline', () => {
    if (ws) ws.close();
  });
  window.addEventListener('pagehide', () => {
    cerrada = true;
  });
  conectar();
}

iniciar();
