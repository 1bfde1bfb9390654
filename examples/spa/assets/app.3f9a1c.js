// The application: renders the route in the address bar (history API routing).
const routes = { '/': 'Home', '/settings/profile': 'Your profile' };
const render = () => {
  document.getElementById('app').textContent = routes[location.pathname] || 'Not found';
};
document.addEventListener('click', (e) => {
  const link = e.target.closest('a');
  if (link && link.origin === location.origin) {
    e.preventDefault();
    history.pushState(null, '', link.pathname);
    render();
  }
});
window.addEventListener('popstate', render);
render();
