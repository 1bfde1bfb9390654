<?php
// A PHP page run by php-cgi: the time, and what $_SERVER says about this request.
$fields = ['SERVER_SOFTWARE', 'SERVER_PROTOCOL', 'REQUEST_METHOD', 'REQUEST_URI',
           'SCRIPT_NAME', 'QUERY_STRING', 'REMOTE_ADDR', 'HTTP_USER_AGENT'];
$e = fn ($s) => htmlspecialchars((string) $s, ENT_QUOTES);
?>
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Hello from PHP &middot; webserv</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/style.css">
</head>
<body>
<header class="site-header">
  <div class="wrap">
    <a class="brand" href="/"><img src="/favicon.svg" alt="">webserv</a>
    <nav class="site-nav">
      <a href="/">Home</a>
      <a href="/files/">Files</a>
      <a href="/upload.html">Upload</a>
      <a href="/cgi-bin/README.html" aria-current="page">CGI</a>
    </nav>
  </div>
</header>
<main class="wrap">
<h1>Hello from PHP <?= $e(PHP_VERSION) ?></h1>
<p>It is <?= $e(date('l j F Y, H:i:s T')) ?>.</p>
<div class="table-wrap">
<table class="fields">
<?php foreach ($fields as $field): ?>
<tr><th><?= $field ?></th><td><?= $e($_SERVER[$field] ?? '') ?></td></tr>
<?php endforeach; ?>
</table>
</div>
<p><a href="/cgi-bin/">All CGI demos</a></p>
</main>
<footer class="site-footer">
  <div class="wrap">webserv &middot; this page was made by <code>cgi-bin/hello.php</code></div>
</footer>
</body>
</html>
