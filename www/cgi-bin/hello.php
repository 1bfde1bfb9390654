<?php
// A PHP page run by php-cgi: the time, and what $_SERVER says about this request.
$fields = ['SERVER_SOFTWARE', 'SERVER_PROTOCOL', 'REQUEST_METHOD', 'REQUEST_URI',
           'SCRIPT_NAME', 'QUERY_STRING', 'REMOTE_ADDR', 'HTTP_USER_AGENT'];
$e = fn ($s) => htmlspecialchars((string) $s, ENT_QUOTES);
?>
<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Hello from PHP</title>
<link rel="stylesheet" href="/style.css"></head>
<body><main>
<h1>Hello from PHP <?= $e(PHP_VERSION) ?></h1>
<p>It is <?= $e(date('l j F Y, H:i:s T')) ?>.</p>
<table>
<?php foreach ($fields as $field): ?>
<tr><th><?= $field ?></th><td><?= $e($_SERVER[$field] ?? '') ?></td></tr>
<?php endforeach; ?>
</table>
<p><a href="/cgi-bin/">All CGI demos</a></p>
</main></body>
</html>
