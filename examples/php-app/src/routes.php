<?php
// The application's routes (outside the document root: never requested directly).

function route(string $method, string $path, array $query, array $form): array
{
    if ($path === '/' || $path === '/index.php') {
        return [200, 'text/html; charset=utf-8', page('Home', '<p>A PHP application on php-fpm.</p>'
            . '<form method="post" action="/guestbook"><input name="name"><button>Sign</button></form>')];
    }
    if (preg_match('#^/hello/([a-z]+)$#', $path, $m)) {
        return [200, 'text/plain; charset=utf-8', "Hello, {$m[1]}!\n"];
    }
    if ($path === '/guestbook' && $method === 'POST') {
        $name = trim($form['name'] ?? '');
        if ($name === '') {
            return [422, 'text/plain; charset=utf-8', "A name, please.\n"];
        }
        return [201, 'text/plain; charset=utf-8', 'Signed by ' . $name . "\n"];
    }
    if ($path === '/api/time') {
        return [200, 'application/json', json_encode(['time' => time(), 'sapi' => PHP_SAPI]) . "\n"];
    }
    return [404, 'text/html; charset=utf-8', page('Not found', '<p>No route for ' . htmlspecialchars($path) . '.</p>')];
}

function page(string $title, string $body): string
{
    return "<!DOCTYPE html>\n<html><head><title>$title</title><link rel=\"stylesheet\" href=\"/assets/site.css\"></head>"
        . "<body><h1>$title</h1>$body</body></html>\n";
}
