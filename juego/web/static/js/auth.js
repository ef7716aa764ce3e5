// Sign-in and sign-up forms (/login, /registro). The form's data-modo says which.
// Validation is the server's: its Spanish message is shown in #error.

import { $, api, destinoSeguro } from './common.js';

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
      location.assign(destino);
    } catch (err) {
      boton.disabled = false;
      boton.textContent = textoBoton;
      error.textContent = err.error || err.message || 'No se pudo completar la operación.';
      const nombreCampo = CAMPOS_POR_CODIGO[err.code];
      const campo = nombreCampo ? $(nombreCampo) : null;
      if (campo) {
        campo.setAttribute('aria-invalid', 'true');
        campo.focus();
      }
    }
  });
}

iniciar();
