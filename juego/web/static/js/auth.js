// Sign-in and sign-up forms (/login, /registro). The form's data-modo says which.
// Validation is the server's: its Spanish message is shown next to the field it is about
// (#<campo>-error, e.g. why a new password is too easy to guess), else in #error.

import { $, api, destinoSeguro, llevarPreferenciasALaCuenta } from './common.js';

const CAMPOS_POR_CODIGO = {
  email_en_uso: 'email',
  credenciales_invalidas: 'password',
};

function iniciar() {
  const form = $('form-auth');
  if (!form) return;
  const modo = form.dataset.modo === 'registro' ? 'registro' : 'login';
  const error = $('error');
  const boton = form.querySelector('button[type="submit"]');
  const textoBoton = boton.textContent;
  const params = new URLSearchParams(location.search);
  const destino = destinoSeguro(params.get('next'), form.dataset.destino || '/juego');

  const limpiarError = () => {
    error.textContent = '';
    for (const aviso of form.querySelectorAll('.error-campo')) aviso.textContent = '';
    for (const campo of form.querySelectorAll('[aria-invalid]')) campo.removeAttribute('aria-invalid');
  };

  form.addEventListener('input', (evento) => {
    if (evento.target.getAttribute('aria-invalid')) evento.target.removeAttribute('aria-invalid');
  });

  form.addEventListener('submit', async (evento) => {
    evento.preventDefault();
    limpiarError();
    const cuerpo = {
      email: $('email').value.trim(),
      password: $('password').value,
    };
    if (modo === 'registro') cuerpo.nombre = $('nombre').value.trim();

    boton.disabled = true;
    boton.textContent = modo === 'registro' ? 'Creando cuenta…' : 'Entrando…';
    try {
      await api(`/api/${modo}`, { method: 'POST', body: cuerpo });
      if (modo === 'registro') await llevarPreferenciasALaCuenta();
      location.assign(destino);
    } catch (err) {
      boton.disabled = false;
      boton.textContent = textoBoton;
      const mensaje = err.error || err.message || 'No se pudo completar la operación.';
      const nombreCampo = err.campo || CAMPOS_POR_CODIGO[err.code];
      const campo = nombreCampo ? $(nombreCampo) : null;
      const junto = err.campo ? $(`${err.campo}-error`) : null;
      if (junto) junto.textContent = mensaje;
      else error.textContent = mensaje;
      if (campo) {
        campo.setAttribute('aria-invalid', 'true');
        campo.focus();
      }
    }
  });
}

iniciar();
